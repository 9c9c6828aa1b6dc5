"""Applying ``usage.recorded`` events: gather the facts, settle in pure code, write.

A batch of events is one transaction, each step one statement for the whole
batch (``ledger.store``); a single event (the one-at-a-time fallback of the
ingestor) is a batch of one, on the same path.

Idempotent twice over: the call's ``request_id`` is the natural key (its usage
row is unique), so a redelivered event, or the same call reported under a new
event id, is dropped once the accounts are locked; and a hold moves from
``held`` to ``committed`` at most once.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.messaging import Envelope
from tollgate.shared.messaging.events import UsageRecorded
from tollgate.usage.config import Settings
from tollgate.usage.ledger import store
from tollgate.usage.ledger.service import lock_paying_accounts
from tollgate.usage.ledger.store import HoldRow
from tollgate.usage.members.service import Claims, payers
from tollgate.usage.metering.alerts import announce_low_balance
from tollgate.usage.metering.decisions import Call, settle
from tollgate.usage.prices.repository import prices_at
from tollgate.usage.reservations import minute_store
from tollgate.usage.topups.service import request_top_ups

__all__ = ["apply_usage_events"]

log = logging.getLogger("tollgate.usage.metering")


async def apply_usage_events(
    session: AsyncSession, settings: Settings, outbox: Table, envelopes: list[Envelope]
) -> None:
    """Apply the events once each; raises (rolling everything back) on any failure."""
    now = datetime.now(UTC)
    events = _distinct_calls(envelopes)
    holds = await _holds_named(session, events)
    calls = await _paying_accounts(session, events, holds)
    account_ids = {c.account_id for c in calls}
    organizations = {e.org_id for e in events if e.org_id is not None}
    accounts = await lock_paying_accounts(
        session,
        account_ids,
        creatable=account_ids - organizations,
        free_tokens=settings.free_monthly_tokens,
        now=now,
    )
    # Every writer of an account's usage holds its lock, so this sees them all.
    recorded = await store.recorded_requests(session, [c.event.request_id for c in calls])
    calls = [c for c in calls if c.event.request_id not in recorded]
    if not calls:
        return
    account_ids = {c.account_id for c in calls}
    locked = await store.lock_holds(session, {c.hold.id for c in calls if c.hold is not None})
    calls = [Call(c.event, c.account_id, locked[c.hold.id]) if c.hold else c for c in calls]
    calls = await _priced_when_started(session, calls, now)
    since = min(min(c.event.started_at for c in calls), now)
    grants = await store.grants_alive_since(session, account_ids, since, now)
    open_holds = await store.open_holds(session, account_ids, now)

    settlement = settle(calls, grants, open_holds, now)

    inserted = await store.record_usage(session, settlement.usage)
    if inserted != len(settlement.usage):
        # Recorded meanwhile outside the account's lock: roll back, go one by one.
        raise RuntimeError(f"{len(calls) - inserted} usage rows were recorded concurrently")
    await store.set_grants_used(session, settlement.grants_used)
    await store.spend(session, settlement.spends)
    await store.commit_holds(session, settlement.committed, now)
    # A lease's minute count is not corrected per call: its shrink says what it used.
    await store.draw_leases(session, settlement.leases, now)
    # Tokens per minute count what each reserved call used, no longer what it might have.
    used = {c.hold.id: c.tokens for c in calls if c.hold and c.hold.id in settlement.committed}
    await minute_store.correct(session, used)
    for account_id, left in sorted(settlement.paid.items()):
        await announce_low_balance(
            session, outbox, accounts[account_id], left, settings.low_balance_thresholds
        )
    await request_top_ups(session, outbox, settlement.paid)


def _distinct_calls(envelopes: list[Envelope]) -> list[UsageRecorded]:
    """The events, once per call (the first report of a request_id)."""
    events: dict[str, UsageRecorded] = {}
    for envelope in envelopes:
        event = UsageRecorded.model_validate(envelope.data)
        events.setdefault(event.request_id, event)
    return list(events.values())


async def _holds_named(session: AsyncSession, events: list[UsageRecorded]) -> dict[str, HoldRow]:
    """Each call's hold (unlocked), by request_id, if it names one of the caller's own.

    A call without a reservation id may still have a hold: llm-proxy lost usage's
    answer to its reservation. Its request_id finds it, so it settles now, not at its TTL.
    """
    by_id = await store.holds_by_id(
        session, {e.reservation_id for e in events if e.reservation_id is not None}
    )
    by_request = await store.holds_by_request(
        session, [e.request_id for e in events if e.reservation_id is None]
    )
    holds: dict[str, HoldRow] = {}
    for event in events:
        if event.reservation_id is not None:
            hold = by_id.get(event.reservation_id)
        else:
            hold = by_request.get(event.request_id)
        if hold is None:
            continue
        if hold.user_id != event.user_id:
            log.warning("usage %s names reservation %s of another user", event.request_id, hold.id)
            continue
        holds[event.request_id] = hold
    return holds


async def _priced_when_started(
    session: AsyncSession, calls: list[Call], now: datetime
) -> list[Call]:
    """A call without a hold (its reservation was lost, or it expired) is charged at the
    price in force when it started (a model priced only since: at its price now).

    So is a call of a lease: the proxy starts calls from a lease for seconds after it
    was priced, and a price change applies from the next call all the same; the lease
    only sets the credits aside (a call costing more draws the rest as a call beyond
    its hold does)."""
    unheld = [i for i, c in enumerate(calls) if c.hold is None or c.hold.is_lease]
    if not unheld:
        return calls
    moments = [(calls[i].event.model, min(calls[i].event.started_at, now)) for i in unheld]
    found = await prices_at(session, moments)
    missing = [n for n, price in enumerate(found) if price is None]
    if missing:
        later = await prices_at(session, [(moments[n][0], now) for n in missing])
        for n, price in zip(missing, later, strict=True):
            found[n] = price
    priced = list(calls)
    for i, price in zip(unheld, found, strict=True):
        call = calls[i]
        if call.hold is not None:  # a lease's call: its hold stays, its price is the day's
            priced[i] = Call(call.event, call.account_id, call.hold, price or call.hold.price)
            continue
        if price is None:
            event = call.event
            log.warning("usage %s is for %s, which has no price", event.request_id, event.model)
        priced[i] = Call(call.event, call.account_id, None, price)
    return priced


async def _paying_accounts(
    session: AsyncSession, events: list[UsageRecorded], holds: dict[str, HoldRow]
) -> list[Call]:
    """A reserved call is paid by its hold's account; any other by who pays for the caller
    (``members.payer``), the parent of a sub-user found among the members."""
    unreserved = [e for e in events if e.request_id not in holds]
    parents = await store.sub_user_parents(session, {e.user_id for e in unreserved})
    who = await payers(
        session, [Claims(e.user_id, e.org_id, parents.get(e.user_id)) for e in unreserved]
    )
    paying: dict[str, uuid.UUID] = {
        e.request_id: p.account_id for e, p in zip(unreserved, who, strict=True)
    }
    return [
        Call(e, holds[e.request_id].account_id, holds[e.request_id])
        if e.request_id in holds
        else Call(e, paying[e.request_id])
        for e in events
    ]
