"""The arithmetic of the ledger, free of I/O: what a call costs, what is spendable, and
which grant pays. Amounts are credits; only a price turns tokens into credits."""

from __future__ import annotations

import calendar
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tollgate.shared.credits import (
    MAX_PRICE_PER_MILLION,
    PER_MILLION,
    REFERENCE_CREDITS_PER_MILLION,
    REFERENCE_PRICE,
    HoldSize,
    InsufficientTokens,
    Price,
    charge,
    size_hold,
)

__all__ = [
    "MAX_PRICE_PER_MILLION",
    "PER_MILLION",
    "REFERENCE_PRICE",
    "Balance",
    "GrantState",
    "HoldSize",
    "InsufficientTokens",
    "Price",
    "add_month",
    "charge",
    "current_period",
    "draw",
    "month_end",
    "price_relative_to_reference",
    "size_hold",
    "spendable_for_settlement",
    "spending_order",
    "term_period",
]


@dataclass(frozen=True)
class GrantState:
    id: uuid.UUID
    amount: int
    used: int
    priority: int
    starts_at: datetime
    expires_at: datetime | None

    @property
    def remaining(self) -> int:
        return self.amount - self.used

    def is_active(self, at: datetime) -> bool:
        return self.starts_at <= at and (self.expires_at is None or self.expires_at > at)


@dataclass(frozen=True)
class Balance:
    """An account's balance: what its active grants still hold (granted minus committed) and
    what its open holds set aside."""

    granted_remaining: int
    held: int

    @classmethod
    def of(cls, grants: Iterable[GrantState], held: int, now: datetime) -> Balance:
        """The balance from the account's grants in memory (``store.balances`` reads the
        same from the database)."""
        return cls(sum(g.remaining for g in grants if g.is_active(now)), held)

    @property
    def available(self) -> int:
        # A grant can lapse under an open hold; the balance shown never goes below zero.
        return max(0, self.granted_remaining - self.held)


def price_relative_to_reference(cost: Decimal, reference_cost: Decimal) -> int:
    """The seeding rule: a model's price per million in one direction is the reference's
    (1,000,000 credits) times its provider cost over the reference's provider cost in the
    same direction, rounded up to a whole credit, and at least one credit."""
    if reference_cost <= 0 or cost < 0:
        raise ValueError("provider costs must be positive (the reference's) or zero")
    return max(1, math.ceil(cost * REFERENCE_CREDITS_PER_MILLION / reference_cost))


def spending_order(grants: Sequence[GrantState]) -> list[GrantState]:
    """The grant that expires first pays first; priority (higher first) breaks ties."""
    far_future = datetime.max.replace(tzinfo=None)

    def key(g: GrantState) -> tuple[int, datetime, int, str]:
        expires = g.expires_at.replace(tzinfo=None) if g.expires_at else far_future
        return (g.expires_at is None, expires, -g.priority, str(g.id))

    return sorted(grants, key=key)


def draw(grants: Sequence[GrantState], amount: int) -> list[tuple[uuid.UUID, int]]:
    """Take ``amount`` from the grants in spending order; never more than they hold."""
    if amount < 0:
        raise ValueError("cannot draw a negative amount")
    taken: list[tuple[uuid.UUID, int]] = []
    left = amount
    for grant in spending_order(grants):
        if left == 0:
            break
        take = min(left, grant.remaining)
        if take > 0:
            taken.append((grant.id, take))
            left -= take
    if left:
        raise ValueError(f"grants hold {amount - left} of the {amount} tokens to draw")
    return taken


def spendable_for_settlement(grants: Sequence[GrantState], other_holds: int, now: datetime) -> int:
    """Tokens a settling call may draw: what it may take without touching others' holds.

    Grants that expired since the call started still pay for it (the call happened
    in their period) and no other hold competes for them; active grants are shared
    with the other open holds.
    """
    lapsed = sum(g.remaining for g in grants if not g.is_active(now))
    active = sum(g.remaining for g in grants if g.is_active(now))
    return lapsed + max(0, active - other_holds)


def current_period(
    start: datetime, end: datetime, now: datetime, renews_until: datetime | None
) -> tuple[datetime, datetime]:
    """The allocation period an account is in at ``now``, from the one it was last in.

    Allocations come a month at a time. The free plan renews on its own for ever
    (``renews_until`` None), on the same day of each month. A paid term (a month, a
    trial, a year) renews month by month until it ends; the next term is billing's
    to announce, so the last month stays as it is.
    """
    while end <= now and (renews_until is None or end < renews_until):
        start, end = end, month_end(end, renews_until)
    return start, end


def month_end(start: datetime, renews_until: datetime | None) -> datetime:
    """The end of the allocation month that begins at ``start``.

    A remainder of the term shorter than a month joins this month rather than being a
    month of its own: a year is twelve allocations (however its days fall), and a
    14-day trial or a period a few hours longer than a calendar month is one.
    """
    end = add_month(start)
    if renews_until is not None and add_month(end) > renews_until:
        return renews_until
    return end


def term_period(
    term_start: datetime, term_end: datetime, now: datetime, *, renews: bool
) -> tuple[datetime, datetime]:
    """The allocation month of billing's term [term_start, term_end) that ``now`` falls in.

    ``renews``: the term is the free plan's, which goes on after its end.
    """
    if renews:
        return current_period(term_start, term_end, now, None)
    return current_period(term_start, month_end(term_start, term_end), now, term_end)


def add_month(moment: datetime, months: int = 1) -> datetime:
    """The same day and time ``months`` later, clamped to the month's last day."""
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
