"""Settling metered calls once their facts are read: no I/O here.

``apply.apply_usage_events`` reads the facts (each call's hold, locked; the
grants of the accounts that pay; their other open holds) and hands them to
``settle``, which says what each call is charged, which grants pay, which holds
are committed, what goes into the usage rows and the daily rollup, and whose
balance fell. Calls are settled one after another against what the ones before
them left, so a batch charges exactly what the same calls one at a time would.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from tollgate.shared.messaging.events import UsageRecorded
from tollgate.usage.ledger.domain import Balance, GrantState, draw, spendable_for_settlement
from tollgate.usage.ledger.store import HoldRow, RollupRow, SpendRow, UsageRow

__all__ = ["Call", "Settlement", "settle"]


@dataclass(frozen=True)
class Call:
    """One metered call: what llm-proxy reported, the account that pays, its hold if any."""

    event: UsageRecorded
    account_id: uuid.UUID
    hold: HoldRow | None = None

    @property
    def tokens(self) -> int:
        event = self.event
        return event.total_tokens or (event.prompt_tokens + event.completion_tokens)

    @property
    def feature(self) -> str:
        # What the statistics group by under "feature": the endpoint the call used.
        return self.event.endpoint[:100]


@dataclass
class Settlement:
    usage: list[UsageRow] = field(default_factory=list)
    grants_used: dict[uuid.UUID, int] = field(default_factory=dict)  # grant → new ``used``
    spends: list[SpendRow] = field(default_factory=list)
    committed: dict[uuid.UUID, int] = field(default_factory=dict)  # hold → tokens charged
    rollup: list[RollupRow] = field(default_factory=list)
    # Accounts whose available balance fell, with what is left (for balance alerts).
    fell: dict[uuid.UUID, int] = field(default_factory=dict)


@dataclass
class _Totals:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    charged_tokens: int = 0
    cost_usd: Decimal = field(default_factory=Decimal)


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
    started; ``open_holds``: each account's open holds (id → tokens), the calls' own
    included. A call's hold is committed with what the call is charged; tokens
    beyond it are charged as far as the grants alive since the call started allow
    without touching other open holds; a hold another call already committed is
    never charged again.
    """
    grants_left = {a: dict(g) for a, g in grants.items()}
    holds_left = {a: dict(h) for a, h in open_holds.items()}
    before = {a: _available(grants_left[a], holds_left.get(a, {}), now) for a in grants_left}
    result = Settlement()
    totals: dict[tuple[date, uuid.UUID, uuid.UUID, str, str, str], _Totals] = defaultdict(_Totals)
    for call in calls:
        event, hold, account_id = call.event, call.hold, call.account_id
        account_grants = grants_left[account_id]
        account_holds = holds_left.setdefault(account_id, {})
        committed = hold is not None and (hold.status == "committed" or hold.id in result.committed)
        open_hold = hold is not None and hold.status == "held" and not committed
        charged = 0
        if not committed:
            started = min(event.started_at, hold.created_at) if hold else event.started_at
            started = min(started, now)
            alive = [g for g in account_grants.values() if _alive_since(g, started, now)]
            others = sum(t for h, t in account_holds.items() if not (hold and h == hold.id))
            charged = min(call.tokens, spendable_for_settlement(alive, others, now))
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
        if open_hold and hold is not None:
            account_holds.pop(hold.id, None)
            result.committed[hold.id] = charged
        result.usage.append(_usage_row(call, charged))
        key = (
            event.started_at.astimezone(UTC).date(),
            account_id,
            event.user_id,
            event.model[:200],
            event.provider[:100],
            call.feature,
        )
        row = totals[key]
        row.requests += 1
        row.prompt_tokens += event.prompt_tokens
        row.completion_tokens += event.completion_tokens
        row.total_tokens += call.tokens
        row.charged_tokens += charged
        row.cost_usd += event.cost_usd
    result.rollup = [RollupRow(*key, **vars(t)) for key, t in totals.items()]
    for account_id, was in before.items():
        left = _available(grants_left[account_id], holds_left.get(account_id, {}), now)
        if left < was:
            result.fell[account_id] = left
    return result


def _alive_since(grant: GrantState, since: datetime, now: datetime) -> bool:
    return grant.starts_at <= now and (grant.expires_at is None or grant.expires_at > since)


def _usage_row(call: Call, charged: int) -> UsageRow:
    event = call.event
    return UsageRow(
        request_id=event.request_id,
        account_id=call.account_id,
        user_id=event.user_id,
        hold_id=call.hold.id if call.hold else None,
        api_key_id=event.api_key_id,
        session_id=event.session_id,
        model=event.model[:200],
        provider=event.provider[:100],
        endpoint=event.endpoint[:100],
        feature=call.feature,
        status=event.status[:30],
        prompt_tokens=event.prompt_tokens,
        completion_tokens=event.completion_tokens,
        total_tokens=call.tokens,
        charged_tokens=charged,
        uncharged_tokens=call.tokens - charged,
        cost_usd=event.cost_usd,
        latency_ms=event.latency_ms,
        ttft_ms=event.ttft_ms,
        started_at=event.started_at,
    )
