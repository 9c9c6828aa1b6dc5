"""Paid packs become grants; refunds take back what is unused; crossings ask for a top-up.

A pack's grant has source ``purchase`` and the pack's own expiry. The spending
order (``ledger.domain.spending_order``: what expires first pays first) draws this
month's plan grant before it, since billing sells no pack that lasts 31 days (the
longest month) or less. A refund never takes back more than the grant still holds: credits already
spent stay spent, and the refund's share beyond them is simply not recovered.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.messaging import Envelope, Subscription, add_event
from tollgate.shared.messaging.events import (
    AutoTopUpChanged,
    CreditsPurchased,
    CreditsRefunded,
    TopUpRequested,
)
from tollgate.usage.config import Settings
from tollgate.usage.ledger import repository as ledger
from tollgate.usage.ledger.service import ensure_account
from tollgate.usage.topups import repository

__all__ = ["QUEUE", "request_top_ups", "subscription"]

log = logging.getLogger("tollgate.usage.topups")

QUEUE = "usage.top-ups"
ROUTING_KEYS = ("credits.purchased", "credits.refunded", "auto_top_up.changed")


class PurchaseNotGrantedYet(Exception):
    """A refund overtook its purchase: retried (with backoff) until the purchase is in."""


async def grant_purchase(
    session: AsyncSession, settings: Settings, event: CreditsPurchased
) -> None:
    now = datetime.now(UTC)
    account = await ensure_account(
        session,
        event.account_id,
        kind="org" if event.org_id is not None else "user",
        free_tokens=settings.free_monthly_tokens,
        now=now,
    )
    grant_id = uuid.uuid4()
    if not await repository.claim_purchase(
        session, event.purchase_id, account.id, grant_id, event.credits
    ):
        log.info("purchase %s was granted already", event.purchase_id)
        return
    await ledger.insert_grant(
        session,
        {
            "id": grant_id,
            "account_id": account.id,
            "source": "purchase",
            "amount": event.credits,
            "priority": 0,
            "starts_at": now,
            "expires_at": event.expires_at,
            "reason": f"credit pack {event.pack_code}",
        },
        now,
    )


async def claw_back(session: AsyncSession, event: CreditsRefunded) -> None:
    now = datetime.now(UTC)
    await ledger.lock_account(session, event.account_id)  # lock order: the account first
    grant = await repository.purchase_grant(session, event.purchase_id)
    if grant is None:
        raise PurchaseNotGrantedYet(f"purchase {event.purchase_id} has no grant yet")
    if not await repository.claim_refund(
        session, event.refund_id, event.purchase_id, event.credits
    ):
        log.info("refund %s was applied already", event.refund_id)
        return
    unused = grant.amount - grant.used
    taken = min(event.credits, unused)
    if taken > 0:
        await repository.take_back(session, grant, event.refund_id, taken, now)
    if taken < event.credits:
        log.info(
            "refund %s asked back %d credits; %d were unused and taken back",
            event.refund_id,
            event.credits,
            taken,
        )


async def request_top_ups(
    session: AsyncSession, outbox: Table, fell: Mapping[uuid.UUID, int]
) -> None:
    """At a settlement: ask billing for a top-up where the balance crossed below a threshold.

    Called with the accounts locked and what each has left; an account back at or
    above its threshold is armed again for its next crossing.
    """
    for watch in await repository.enabled_watches(session, fell.keys()):
        left = fell[watch.account_id]
        if left >= watch.threshold:
            watch.armed = True
        elif watch.armed:
            watch.armed = False
            await add_event(
                session,
                outbox,
                "usage",
                watch.account_id,
                TopUpRequested(
                    account_id=watch.account_id,
                    crossing_id=uuid.uuid4(),
                    remaining=left,
                    threshold=watch.threshold,
                ),
            )
    await session.flush()


def subscription(settings: Settings) -> Subscription:
    async def handle(session: AsyncSession, envelope: Envelope) -> None:
        data = envelope.parsed()
        if isinstance(data, CreditsPurchased):
            await grant_purchase(session, settings, data)
        elif isinstance(data, CreditsRefunded):
            await claw_back(session, data)
        elif isinstance(data, AutoTopUpChanged):
            await repository.upsert_watch(
                session,
                data.account_id,
                enabled=data.enabled,
                threshold=data.threshold,
                sequence=data.sequence,
            )

    return Subscription(QUEUE, ROUTING_KEYS, handle)
