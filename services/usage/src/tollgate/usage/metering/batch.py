"""Applying many ``usage.recorded`` events in one transaction, set by set.

The same rules as ``metering.service.record_usage`` (which applies one event and
is the fallback when a batch fails), but each step is one statement for the
whole batch: inbox, claims, account locks (in id order, so concurrent batches
cannot deadlock), grants and open holds are read once; the arithmetic runs in
memory; grants, holds, usage rows, ledger entries and the rollup are written in
bulk. Throughput is bounded by the batch, not by round trips per event.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.messaging import Envelope
from tollgate.shared.messaging.events import UsageRecorded
from tollgate.usage.config import Settings
from tollgate.usage.ledger.domain import GrantState, add_month, draw, spendable_for_settlement
from tollgate.usage.ledger.service import grant_plan_allocation
from tollgate.usage.metering import batch_repository as bulk
from tollgate.usage.metering.alerts import announce_low_balance
from tollgate.usage.models import Account, Member

__all__ = ["apply_usage_batch"]

RollupKey = tuple[date, uuid.UUID, uuid.UUID, str, str, str]


@dataclass
class _Hold:
    id: uuid.UUID
    account_id: uuid.UUID
    user_id: uuid.UUID
    status: str
    created_at: datetime


@dataclass(frozen=True)
class _Account:
    id: uuid.UUID
    monthly_tokens: int
    period_start: datetime


@dataclass
class _Call:
    event: UsageRecorded
    feature: str
    tokens: int
    hold: _Hold | None = None
    account_id: uuid.UUID | None = None
    charged: int = 0


@dataclass
class _Rollup:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    charged_tokens: int = 0
    cost_usd: Decimal = field(default_factory=Decimal)


async def apply_usage_batch(
    session: AsyncSession,
    settings: Settings,
    outbox: Table,
    envelopes: list[Envelope],
) -> None:
    """Apply the envelopes once each; raises (rolling everything back) on any failure.

    The call's ``request_id`` is the natural key that makes a redelivery harmless (no
    inbox row per event): once the accounts are locked, calls already recorded are
    dropped, and the usage rows go in with their final charges, in one statement.
    """
    now = datetime.now(UTC)
    calls = _calls(envelopes)
    if not calls:
        return
    await _find_holds(session, calls)
    await _resolve_accounts(session, calls)
    account_ids = sorted({c.account_id for c in calls if c.account_id is not None})
    accounts = await _lock_accounts(session, settings, account_ids, now)
    # Every writer of an account's usage holds its lock, so this sees them all.
    recorded = await bulk.recorded_requests(session, [c.event.request_id for c in calls])
    calls = [c for c in calls if c.event.request_id not in recorded]
    if not calls:
        return
    account_ids = sorted({c.account_id for c in calls if c.account_id is not None})
    held = await _lock_holds(session, [c.hold.id for c in calls if c.hold is not None])
    for call in calls:
        if call.hold is not None:
            call.hold = held[call.hold.id]
    since = min(min(c.event.started_at for c in calls), now)
    grants = await _grants(session, account_ids, since, now)
    open_holds = await _open_holds(session, account_ids, now)
    before = {a: _available(grants[a], open_holds[a], now) for a in account_ids}

    used_delta: dict[uuid.UUID, int] = defaultdict(int)
    entries: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None, str, int, datetime]] = []
    settled: dict[uuid.UUID, int] = {}
    rollup: dict[RollupKey, _Rollup] = defaultdict(_Rollup)
    for call in calls:
        assert call.account_id is not None
        event, hold = call.event, call.hold
        account_grants, account_holds = grants[call.account_id], open_holds[call.account_id]
        open_hold = hold is not None and hold.status == "held"
        if hold is not None and hold.status == "committed":
            charged = 0  # another request settled this hold; never charge twice
        else:
            started = min(event.started_at, hold.created_at) if hold else event.started_at
            started = min(started, now)
            alive = [g for g in account_grants.values() if _alive_since(g, started, now)]
            others = sum(a for h, a in account_holds.items() if not (hold and h == hold.id))
            charged = min(call.tokens, spendable_for_settlement(alive, others, now))
            for grant_id, amount in draw(alive, charged) if charged > 0 else []:
                g = account_grants[grant_id]
                account_grants[grant_id] = GrantState(
                    g.id, g.amount, g.used + amount, g.priority, g.starts_at, g.expires_at
                )
                used_delta[grant_id] += amount
                entries.append(
                    (
                        call.account_id,
                        grant_id,
                        hold.id if open_hold and hold else None,
                        event.request_id,
                        amount,
                        event.started_at,
                    )
                )
        if open_hold and hold is not None:
            account_holds.pop(hold.id, None)
            hold.status = "committed"
            settled[hold.id] = charged
        call.charged = charged
        key = (
            event.started_at.astimezone(UTC).date(),
            call.account_id,
            event.user_id,
            event.model[:200],
            event.provider[:100],
            call.feature,
        )
        row = rollup[key]
        row.requests += 1
        row.prompt_tokens += event.prompt_tokens
        row.completion_tokens += event.completion_tokens
        row.total_tokens += call.tokens
        row.charged_tokens += charged
        row.cost_usd += event.cost_usd

    await _record(session, calls)
    await _write(session, grants, used_delta, entries, settled, rollup, now)
    for account_id in account_ids:
        after = _available(grants[account_id], open_holds[account_id], now)
        if after < before[account_id]:
            await announce_low_balance(
                session, outbox, accounts[account_id], after, settings.low_balance_thresholds
            )


def _alive_since(grant: GrantState, since: datetime, now: datetime) -> bool:
    return grant.starts_at <= now and (grant.expires_at is None or grant.expires_at > since)


def _available(
    grants: dict[uuid.UUID, GrantState], holds: dict[uuid.UUID, int], now: datetime
) -> int:
    active = sum(g.remaining for g in grants.values() if g.is_active(now))
    left: int = max(0, active - sum(holds.values()))
    return left


def _calls(envelopes: list[Envelope]) -> list[_Call]:
    calls: dict[str, _Call] = {}
    for envelope in envelopes:
        event = UsageRecorded.model_validate(envelope.data)
        if event.request_id in calls:
            continue
        calls[event.request_id] = _Call(
            event=event,
            feature=str(envelope.data.get("feature") or event.endpoint)[:100],
            tokens=event.total_tokens or (event.prompt_tokens + event.completion_tokens),
        )
    return list(calls.values())


async def _find_holds(session: AsyncSession, calls: list[_Call]) -> None:
    wanted = {c.event.reservation_id for c in calls if c.event.reservation_id is not None}
    found = {r.id: _Hold(*r) for r in await bulk.find_holds(session, sorted(wanted))}
    # A call without a reservation id may still have a hold: llm-proxy lost usage's
    # answer to its reservation. Its request_id finds it, so it settles now, not at its TTL.
    unnamed = sorted(c.event.request_id for c in calls if c.event.reservation_id is None)
    by_request: dict[str, _Hold] = {}
    if unnamed:
        for *columns, request_id in await bulk.find_holds_by_request(session, unnamed):
            by_request[request_id] = _Hold(*columns)
    for call in calls:
        reservation_id = call.event.reservation_id
        hold = (
            found.get(reservation_id) if reservation_id else by_request.get(call.event.request_id)
        )
        if hold is not None and hold.user_id == call.event.user_id:
            call.hold = hold
            call.account_id = hold.account_id


async def _resolve_accounts(session: AsyncSession, calls: list[_Call]) -> None:
    """Unreserved calls go to the org pool, a sub-user's parent, or the user (as one by one)."""
    pending = [c for c in calls if c.account_id is None]
    if not pending:
        return
    orgs = {c.event.org_id for c in pending if c.event.org_id is not None}
    pools: set[uuid.UUID] = set()
    memberships: dict[tuple[uuid.UUID, uuid.UUID], bool] = {}
    if orgs:
        pools = set(
            await session.scalars(
                select(Account.id).where(Account.id.in_(orgs), Account.deleted_at.is_(None))
            )
        )
        rows = await session.execute(
            select(Member.account_id, Member.user_id, Member.active).where(
                Member.account_id.in_(orgs)
            )
        )
        memberships = {(a, u): active for a, u, active in rows.all()}
    parents = await bulk.sub_user_parents(session, sorted({c.event.user_id for c in pending}))
    for call in pending:
        org, user = call.event.org_id, call.event.user_id
        if org is not None and org in pools and memberships.get((org, user), True):
            call.account_id = org
        else:
            call.account_id = parents.get(user, user)


async def _record(session: AsyncSession, calls: list[_Call]) -> None:
    """The usage rows, with what each call was charged and what it could not be."""
    inserted = await bulk.record_usage(
        session,
        [
            {
                "request_id": c.event.request_id,
                "account_id": c.account_id,
                "user_id": c.event.user_id,
                "hold_id": c.hold.id if c.hold else None,
                "api_key_id": c.event.api_key_id,
                "session_id": c.event.session_id,
                "model": c.event.model[:200],
                "provider": c.event.provider[:100],
                "endpoint": c.event.endpoint[:100],
                "feature": c.feature,
                "status": c.event.status[:30],
                "prompt": c.event.prompt_tokens,
                "completion": c.event.completion_tokens,
                "total": c.tokens,
                "charged": c.charged,
                "uncharged": c.tokens - c.charged,
                "cost": c.event.cost_usd,
                "latency": c.event.latency_ms,
                "ttft": c.event.ttft_ms,
                "started_at": c.event.started_at,
            }
            for c in calls
        ],
    )
    if inserted != len(calls):
        # Recorded meanwhile outside the account's lock: roll back, go one by one.
        raise RuntimeError(f"{len(calls) - inserted} usage rows were recorded concurrently")


async def _lock_accounts(
    session: AsyncSession, settings: Settings, account_ids: list[uuid.UUID], now: datetime
) -> dict[uuid.UUID, _Account]:
    created = await bulk.create_accounts(
        session, account_ids, settings.free_monthly_tokens, now, add_month(now)
    )
    accounts = {r.id: _Account(*r) for r in await bulk.lock_accounts(session, account_ids)}
    for account_id in sorted(created):
        await grant_plan_allocation(
            session, account_id, now, add_month(now), settings.free_monthly_tokens, now
        )
    return accounts


async def _lock_holds(session: AsyncSession, hold_ids: list[uuid.UUID]) -> dict[uuid.UUID, _Hold]:
    if not hold_ids:
        return {}
    return {r.id: _Hold(*r) for r in await bulk.lock_holds(session, hold_ids)}


async def _grants(
    session: AsyncSession, account_ids: list[uuid.UUID], since: datetime, now: datetime
) -> dict[uuid.UUID, dict[uuid.UUID, GrantState]]:
    grants: dict[uuid.UUID, dict[uuid.UUID, GrantState]] = {a: {} for a in account_ids}
    for row in await bulk.grants_of(session, account_ids, since, now):
        account_id, grant_id, amount, used, priority, starts_at, expires_at = row
        grants[account_id][grant_id] = GrantState(
            grant_id, amount, used, priority, starts_at, expires_at
        )
    return grants


async def _open_holds(
    session: AsyncSession, account_ids: list[uuid.UUID], now: datetime
) -> dict[uuid.UUID, dict[uuid.UUID, int]]:
    holds: dict[uuid.UUID, dict[uuid.UUID, int]] = {a: {} for a in account_ids}
    for account_id, hold_id, amount in await bulk.open_holds_of(session, account_ids, now):
        holds[account_id][hold_id] = amount
    return holds


async def _write(
    session: AsyncSession,
    grants: dict[uuid.UUID, dict[uuid.UUID, GrantState]],
    used_delta: dict[uuid.UUID, int],
    entries: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None, str, int, datetime]],
    settled: dict[uuid.UUID, int],
    rollup: dict[RollupKey, _Rollup],
    now: datetime,
) -> None:
    if used_delta:
        # The accounts are locked, so no one else moves these grants: absolute values are safe.
        new_used = {g.id: g.used for by_id in grants.values() for g in by_id.values()}
        await bulk.set_grants_used(session, {g: new_used[g] for g in used_delta})
        await bulk.spend_entries(session, entries)
    if settled:
        await bulk.settle_holds(session, settled, now)
    await bulk.add_rollup(
        session,
        [
            (
                *key,
                r.requests,
                r.prompt_tokens,
                r.completion_tokens,
                r.total_tokens,
                r.charged_tokens,
                r.cost_usd,
            )
            for key, r in rollup.items()
        ],
    )
