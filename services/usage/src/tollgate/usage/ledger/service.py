"""Ledger operations shared by reservations, metering and plan allocation.

Every function here expects the caller to hold the account row lock
(``repository.lock_account``), so balance reads and writes of one account are
serialised while different accounts proceed in parallel.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.plans import limits_for
from tollgate.usage.ledger import repository as repo
from tollgate.usage.ledger.domain import add_month, draw, spendable_for_settlement
from tollgate.usage.models import Account

__all__ = [
    "Balance",
    "PlanFacts",
    "account_limits",
    "available",
    "charge",
    "ensure_account",
    "ensure_current_period",
    "grant_plan_allocation",
]


@dataclass(frozen=True)
class Balance:
    granted_remaining: int  # what active grants still hold
    held: int

    @property
    def available(self) -> int:
        # A grant can lapse under an open hold; the balance shown never goes below zero.
        return max(0, self.granted_remaining - self.held)


class PlanFacts(Protocol):
    @property
    def plan(self) -> str: ...
    @property
    def limits(self) -> dict[str, Any] | None: ...


def account_limits(account: PlanFacts) -> dict[str, Any]:
    base: dict[str, Any] = dict(limits_for(account.plan))
    base.update(account.limits or {})
    return base


async def grant_plan_allocation(
    session: AsyncSession,
    account_id: uuid.UUID,
    start: datetime,
    end: datetime,
    amount: int,
    now: datetime,
) -> bool:
    """Grant a period's allocation once; True if the balance grew.

    A plan grant whose period overlaps this one is the same allocation announced
    again (a repeat, the free plan from both user.registered and billing, an
    upgrade inside the period): it is raised to the larger amount and the later
    end, never granted twice.
    """
    if amount <= 0 or end <= start:
        return False
    existing = await repo.overlapping_plan_grant(session, account_id, start, end)
    if existing is not None:
        new_expiry = max(existing.expires_at or end, end)
        if amount > existing.amount or new_expiry != existing.expires_at:
            await repo.enlarge_grant(
                session, existing, max(amount, existing.amount), new_expiry, now
            )
            grew: bool = amount > existing.amount
            return grew
        return False
    grant_id = await repo.insert_grant(
        session,
        {
            "id": uuid.uuid4(),
            "account_id": account_id,
            "source": "plan",
            "amount": amount,
            "priority": 0,
            "starts_at": start,
            "expires_at": end,
            "period_start": start,
            "reason": "plan allocation",
        },
        now,
    )
    return grant_id is not None


async def ensure_account(
    session: AsyncSession,
    account_id: uuid.UUID,
    *,
    kind: str,
    free_tokens: int,
    now: datetime,
    grant_free: bool = True,
) -> Account:
    """Lock the account, creating it on the free plan (with this month's allocation) if new."""
    account = await repo.lock_account(session, account_id)
    if account is not None:
        return account
    end = add_month(now)
    await repo.create_account(
        session,
        account_id,
        kind=kind,
        plan="free",
        monthly_tokens=free_tokens,
        period_start=now,
        period_end=end,
    )
    account = await repo.lock_account(session, account_id)
    assert account is not None
    if kind == "user" and grant_free:
        await grant_plan_allocation(session, account_id, now, end, free_tokens, now)
    return account


async def ensure_current_period(session: AsyncSession, account: Account, now: datetime) -> None:
    """Free accounts renew monthly on their own schedule, granted once per period."""
    if account.plan != "free" or account.period_end > now:
        return
    start, end = account.period_start, account.period_end
    while end <= now:
        start, end = end, add_month(end)
    account.period_start, account.period_end = start, end
    await session.flush()
    await grant_plan_allocation(session, account.id, start, end, account.monthly_tokens, now)


async def available(session: AsyncSession, account_id: uuid.UUID, now: datetime) -> Balance:
    remaining, held = await repo.balance_totals(session, account_id, now)
    return Balance(remaining, held)


async def charge(
    session: AsyncSession,
    account_id: uuid.UUID,
    tokens: int,
    *,
    since: datetime,
    now: datetime,
    hold_id: uuid.UUID | None,
    request_id: str,
    occurred_at: datetime,
) -> int:
    """Charge up to ``tokens`` from grants alive since ``since``; returns what was charged.

    The settling hold (``hold_id``) no longer counts against the balance; other
    open holds keep their tokens, so a call that used more than it reserved only
    takes what is truly free.
    """
    if tokens <= 0:
        return 0
    grants = await repo.grants_since(session, account_id, since, now)
    others = await repo.active_hold_total(session, account_id, now, excluding=hold_id)
    charged: int = min(tokens, spendable_for_settlement(grants, others, now))
    if charged <= 0:
        return 0
    await repo.apply_draws(
        session,
        account_id,
        draw(grants, charged),
        hold_id=hold_id,
        request_id=request_id,
        occurred_at=occurred_at,
    )
    return charged
