"""Applying ``usage.recorded``: commit the call's hold with what it really used.

Idempotent twice over: the consumer's inbox drops a redelivered event id, and
the usage record's unique ``request_id`` drops the same call reported under a
new event id. A hold moves from ``held`` to ``committed`` at most once.
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
from tollgate.usage.ledger import repository as ledger
from tollgate.usage.ledger.service import available, charge, ensure_account
from tollgate.usage.metering import repository as repo
from tollgate.usage.metering.alerts import announce_low_balance
from tollgate.usage.models import Hold

__all__ = ["record_usage"]

log = logging.getLogger("tollgate.usage.metering")


async def record_usage(
    session: AsyncSession, settings: Settings, outbox: Table, envelope: Envelope
) -> None:
    event = UsageRecorded.model_validate(envelope.data)
    now = datetime.now(UTC)
    if event.reservation_id is not None:
        hold = await session.get(Hold, event.reservation_id)
    else:
        # llm-proxy lost usage's answer to its reservation: the hold is found by the
        # request_id both share, so it settles now instead of waiting for its TTL.
        hold = await ledger.find_hold(session, event.request_id)
    if hold is not None and hold.user_id != event.user_id:
        log.warning("usage %s names reservation %s of another user", event.request_id, hold.id)
        hold = None
    account_id = hold.account_id if hold else await _account_without_hold(session, event)
    tokens = event.total_tokens or (event.prompt_tokens + event.completion_tokens)
    feature = str(envelope.data.get("feature") or event.endpoint)[:100]
    # The account's lock first, as every writer of its usage takes it (one lock order).
    account = await ensure_account(
        session, account_id, kind="user", free_tokens=settings.free_monthly_tokens, now=now
    )
    record_id = await repo.claim_request(
        session,
        {
            "request_id": event.request_id,
            "account_id": account_id,
            "user_id": event.user_id,
            "hold_id": hold.id if hold else None,
            "api_key_id": event.api_key_id,
            "session_id": event.session_id,
            "model": event.model[:200],
            "provider": event.provider[:100],
            "endpoint": event.endpoint[:100],
            "feature": feature,
            "status": event.status[:30],
            "prompt_tokens": event.prompt_tokens,
            "completion_tokens": event.completion_tokens,
            "total_tokens": tokens,
            "charged_tokens": 0,
            "uncharged_tokens": 0,
            "cost_usd": event.cost_usd,
            "latency_ms": event.latency_ms,
            "ttft_ms": event.ttft_ms,
            "started_at": event.started_at,
        },
    )
    if record_id is None:
        log.info("usage for request %s already recorded", event.request_id)
        return

    if hold is not None:
        hold = await ledger.lock_hold(session, hold.id)
    assert hold is None or hold.account_id == account.id
    open_hold = hold is not None and hold.status == "held"
    if hold is not None and hold.status == "committed":
        # Another request already settled this hold; charging again would count twice.
        log.warning("reservation %s already committed; %s not charged", hold.id, event.request_id)
        charged = 0
    else:
        since = min(event.started_at, hold.created_at) if hold else event.started_at
        charged = await charge(
            session,
            account.id,
            tokens,
            since=min(since, now),
            now=now,
            hold_id=hold.id if open_hold and hold else None,
            request_id=event.request_id,
            occurred_at=event.started_at,
        )
    if open_hold and hold is not None:
        await ledger.settle_hold(session, hold.id, "committed", now, committed_tokens=charged)
    await repo.set_charge(session, record_id, account.id, charged, tokens - charged)
    await repo.add_to_rollup(
        session,
        {
            "day": event.started_at.astimezone(UTC).date(),
            "account_id": account.id,
            "user_id": event.user_id,
            "model": event.model[:200],
            "provider": event.provider[:100],
            "feature": feature,
            "prompt_tokens": event.prompt_tokens,
            "completion_tokens": event.completion_tokens,
            "total_tokens": tokens,
            "charged_tokens": charged,
            "cost_usd": event.cost_usd,
        },
    )
    if charged > 0:
        balance = await available(session, account.id, now)
        await announce_low_balance(
            session, outbox, account, balance.available, settings.low_balance_thresholds
        )


async def _account_without_hold(session: AsyncSession, event: UsageRecorded) -> uuid.UUID:
    """Where an unreserved call is charged: the org pool, a sub-user's parent, or the user."""
    if event.org_id is not None:
        membership = await ledger.member(session, event.org_id, event.user_id)
        pool = await ledger.get_account(session, event.org_id)
        if pool is not None and (membership is None or membership.active):
            return event.org_id
    parent = await ledger.sub_user_parent(session, event.user_id)
    return parent or event.user_id
