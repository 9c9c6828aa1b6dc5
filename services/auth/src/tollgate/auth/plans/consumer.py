"""Keeps each account's plan from billing's ``subscription.changed``, for the ``plan`` claim."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.plans.repository import AccountPlanRepository
from tollgate.shared.messaging import Envelope, Subscription
from tollgate.shared.messaging.events import SubscriptionChanged

log = logging.getLogger("tollgate.auth.plans")

QUEUE = "auth.subscription-changed"


async def apply_subscription_changed(session: AsyncSession, envelope: Envelope) -> None:
    event = SubscriptionChanged.model_validate(envelope.data)
    applied = await AccountPlanRepository(session).record(
        event.account_id, event.plan, event.status, dict(event.limits), event.sequence
    )
    if not applied:
        log.info("ignored out-of-order subscription.changed for %s", event.account_id)


def subscriptions() -> list[Subscription]:
    return [Subscription(QUEUE, ["subscription.changed"], apply_subscription_changed)]
