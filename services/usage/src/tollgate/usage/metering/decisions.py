"""Settling metered calls once their facts are read: no I/O here.

``apply.apply_usage_events`` reads the facts (each call's hold, locked, or for a
call without one the price in force when it started; the grants of the accounts
that pay; their other open holds) and hands them to ``settle``, which says what
each call costs at its price (``ledger.domain.charge``), what it is charged,
which grants pay, which holds are committed, what goes into the usage rows (the
daily rollup is added up from them as they are written), and which accounts paid.
Calls are settled one after another against what the ones before them left, so a
batch charges exactly what the same calls one at a time would.

A lease (a hold serving many calls) stays open as its calls settle: each draws from
what the calls before it left, and what it was charged leaves the lease's held
credits for its committed ones. A lease shrunk final is committed once it holds
nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tollgate.shared.messaging.events import UsageRecorded
from tollgate.usage.ledger.domain import (
    Balance,
    GrantState,
    Price,
    charge,
    draw,
    spendable_for_settlement,
)
from tollgate.usage.ledger.store import HoldRow, LeaseDraw, SpendRow, UsageRow

__all__ = ["Call", "Settlement", "settle"]


@dataclass(frozen=True)
class Call:
    """One metered call: what llm-proxy reported, the account that pays, its hold if any,
    and without a hold the price in force when it started (None: the model had none)."""

    event: UsageRecorded
    account_id: uuid.UUID
    hold: HoldRow | None = None
    price_then: Price | None = None

    @property
    def tokens(self) -> int:
        event = self.event
        return event.total_tokens or (event.prompt_tokens + event.completion_tokens)

    @property
    def price(self) -> Price | None:
        """The price in force when the call started (``price_then``: a call without a hold,
        or a lease's), else its hold's: a price change applies from the next call only."""
        if self.price_then is not None:
            return self.price_then
        return self.hold.price if self.hold is not None else None

    @property
    def cost(self) -> int:
        """What the call costs in credits: its input at the input price, the rest
        (a total above prompt + completion counts as output) at the output price."""
        if self.price is None:
            return 0
        event = self.event
        output = max(event.completion_tokens, self.tokens - event.prompt_tokens)
        return charge(self.price, event.prompt_tokens, output)

    @property
    def feature(self) -> str:
        # What the statistics group by under "feature": the client's tag, else the endpoint.
        return self.event.feature or self.event.endpoint


@dataclass
class Settlement:
    usage: list[UsageRow] = field(default_factory=list)
    grants_used: dict[uuid.UUID, int] = field(default_factory=dict)  # grant → new ``used``
    spends: list[SpendRow] = field(default_factory=list)
    committed: dict[uuid.UUID, int] = field(default_factory=dict)  # hold → credits charged
    leases: dict[uuid.UUID, LeaseDraw] = field(default_factory=dict)
    # Accounts that paid for a call, with what is left (for balance alerts). Not "whose
    # available balance fell": settling a hold larger than the call frees the rest, so
    # the balance shown can rise while the grants go down.
    paid: dict[uuid.UUID, int] = field(default_factory=dict)


def _available(
    grants: Mapping[uuid.UUID, GrantState], holds: Mapping[uuid.UUID, int], now: datetime
) -> int:
    return Balance.of(grants.values(), sum(holds.values()), now).available


def settle(
    calls: Sequence[Call],
    grants: Mapping[uuid.UUID, Mapping[uuid.UUID, GrantState]],
    open_holds: Mapping[uuid.UUID, Mapping[uuid.UUID, int]],
    now: datetime,
) -> Settlement:
    """Settle each call in order.

    ``grants``: each paying account's grants that were alive when the earliest call
    started; ``open_holds``: each account's open holds (id → credits), the calls' own
    included. A call costs ``charge`` of its tokens at its price (the hold's); its
    hold is committed with what the call is charged; credits beyond the hold are
    charged as far as the grants alive since the call started allow
    without touching other open holds; a hold another call already committed is
    never charged again. A call of an open lease is charged the same way (the lease's
    own credits are its to draw) and lowers what the lease holds, which stays open;
    a call of a lease that is closed or expired is charged like one whose hold expired.
    """
    grants_left = {a: dict(g) for a, g in grants.items()}
    holds_left = {a: dict(h) for a, h in open_holds.items()}
    paying: set[uuid.UUID] = set()
    result = Settlement()
    for call in calls:
        event, hold, account_id = call.event, call.hold, call.account_id
        account_grants = grants_left[account_id]
        account_holds = holds_left.setdefault(account_id, {})
        lease = hold is not None and hold.is_lease
        committed = (
            hold is not None
            and not lease
            and (hold.status == "committed" or hold.id in result.committed)
        )
        closed = hold is not None and hold.id in result.leases and result.leases[hold.id].closes
        open_hold = hold is not None and hold.status == "held" and not committed and not closed
        charged = 0
        if not committed:
            started = min(event.started_at, hold.created_at) if hold else event.started_at
            started = min(started, now)
            alive = [g for g in account_grants.values() if _alive_since(g, started, now)]
            others = sum(t for h, t in account_holds.items() if not (hold and h == hold.id))
            charged = min(call.cost, spendable_for_settlement(alive, others, now))
            for grant_id, amount in draw(alive, charged) if charged > 0 else []:
                g = account_grants[grant_id]
                account_grants[grant_id] = GrantState(
                    g.id, g.amount, g.used + amount, g.priority, g.starts_at, g.expires_at
                )
                result.grants_used[grant_id] = g.used + amount
                result.spends.append(
                    SpendRow(
                        account_id=account_id,
                        grant_id=grant_id,
                        hold_id=hold.id if open_hold and hold else None,
                        request_id=event.request_id,
                        amount=amount,
                        occurred_at=event.started_at,
                    )
                )
        if charged > 0:
            paying.add(account_id)
        if open_hold and hold is not None and lease:
            held = max(0, account_holds.get(hold.id, 0) - charged)
            if hold.id in account_holds:
                account_holds[hold.id] = held
            before = result.leases.get(hold.id)
            result.leases[hold.id] = LeaseDraw(
                held,
                charged + (before.charged if before else 0),
                hold.lease_final and held == 0,
            )
        elif open_hold and hold is not None:
            account_holds.pop(hold.id, None)
            result.committed[hold.id] = charged
        result.usage.append(_usage_row(call, charged))
    for account_id in paying:
        result.paid[account_id] = _available(
            grants_left[account_id], holds_left.get(account_id, {}), now
        )
    return result


def _alive_since(grant: GrantState, since: datetime, now: datetime) -> bool:
    return grant.starts_at <= now and (grant.expires_at is None or grant.expires_at > since)


def _usage_row(call: Call, charged: int) -> UsageRow:
    hold_id = call.hold.id if call.hold else None
    price = call.price
    return UsageRow(
        call.event,
        call.account_id,
        hold_id,
        call.feature,
        call.tokens,
        price.input_per_million if price else None,
        price.output_per_million if price else None,
        call.cost,
        charged,
    )
