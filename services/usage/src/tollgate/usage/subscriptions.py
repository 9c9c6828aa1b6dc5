"""The queues this service consumes, and which handler applies each event type."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.messaging import Envelope, Subscription
from tollgate.usage.allocation import service as allocation
from tollgate.usage.config import Settings
from tollgate.usage.members.facts import FACT_EVENTS, apply_member_fact
from tollgate.usage.metering.apply import apply_usage_events
from tollgate.usage.topups import service as top_ups

__all__ = [
    "ACCOUNTS_QUEUE",
    "SUBSCRIPTIONS_QUEUE",
    "USAGE_QUEUE",
    "subscriptions",
    "usage_subscription",
]

USAGE_QUEUE = "usage.usage-recorded"
ACCOUNTS_QUEUE = "usage.accounts"
SUBSCRIPTIONS_QUEUE = "usage.subscriptions"


def usage_subscription(settings: Settings, outbox: Table) -> Subscription:
    """usage.recorded one at a time: the ingestor's fallback when a batch fails."""

    async def on_usage(session: AsyncSession, envelope: Envelope) -> None:
        await apply_usage_events(session, settings, outbox, [envelope])

    return Subscription(USAGE_QUEUE, ["usage.recorded"], on_usage)


def subscriptions(settings: Settings) -> Sequence[Subscription]:
    """Everything but usage.recorded, which the batching ingestor consumes."""

    async def on_account_event(session: AsyncSession, envelope: Envelope) -> None:
        if envelope.type == "user.registered":
            await allocation.on_user_registered(session, settings, envelope)
        elif envelope.type == "user.deleted":
            await allocation.on_user_deleted(session, envelope)
        elif envelope.type in FACT_EVENTS:
            await apply_member_fact(session, envelope)

    async def on_subscription(session: AsyncSession, envelope: Envelope) -> None:
        await allocation.apply_subscription_changed(session, settings, envelope)

    return [
        Subscription(
            ACCOUNTS_QUEUE,
            ["user.registered", "user.deleted", *FACT_EVENTS],
            on_account_event,
        ),
        Subscription(SUBSCRIPTIONS_QUEUE, ["subscription.changed"], on_subscription),
        top_ups.subscription(settings),
    ]
