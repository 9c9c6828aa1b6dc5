"""Keeps each account's plan from billing's ``subscription.changed``, for the ``plan`` claim,
and each plan's newest edit from ``plan.updated``, for the limits vscode-config shows."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.plans.repository import AccountPlanRepository
from tollgate.shared.messaging import Envelope, Subscription
from tollgate.shared.messaging.events import PlanUpdated, SubscriptionChanged

log = logging.getLogger("tollgate.auth.plans")

QUEUE = "auth.subscription-changed"
PLANS_QUEUE = "auth.plans"


async def apply_subscription_changed(session: AsyncSession, envelope: Envelope) -> None:
    event = SubscriptionChanged.model_validate(envelope.data)
    applied = await AccountPlanRepository(session).record(
        event.account_id, event.plan, event.status, dict(event.limits), event.sequence
    )
    if not applied:
        log.info("ignored out-of-order subscription.changed for %s", event.account_id)


async def apply_plan_updated(session: AsyncSession, envelope: Envelope) -> None:
    event = PlanUpdated.model_validate(envelope.data)
    applied = await AccountPlanRepository(session).record_plan_edit(
        event.code, dict(event.limits), event.version
    )
    if not applied:
        log.info("ignored plan.updated %s version %d (not newer)", event.code, event.version)


def subscriptions() -> list[Subscription]:
    return [
        Subscription(QUEUE, ["subscription.changed"], apply_subscription_changed),
        Subscription(PLANS_QUEUE, ["plan.updated"], apply_plan_updated),
    ]
