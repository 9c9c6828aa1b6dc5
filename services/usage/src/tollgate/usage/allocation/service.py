"""Accounts and their allocations, from auth's and billing's events.

subscription.changed carries a ``sequence``: an event older than the last one
applied to the account changes nothing. Each period's allocation is granted
once (see ledger.service.grant_plan_allocation), so repeats, reordering and the
free plan announced by both user.registered and billing never grant twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.messaging import Envelope
from tollgate.shared.messaging.events import (
    SubscriptionChanged,
    UserDeleted,
    UserRegistered,
)
from tollgate.usage.allocation import repository as repo
from tollgate.usage.config import Settings
from tollgate.usage.ledger import repository as ledger
from tollgate.usage.ledger.domain import term_period
from tollgate.usage.ledger.service import ensure_account, grant_plan_allocation
from tollgate.usage.members.facts import sub_user_registered

__all__ = [
    "GRANTING_STATUSES",
    "apply_subscription_changed",
    "on_user_deleted",
    "on_user_registered",
]

log = logging.getLogger("tollgate.usage.allocation")

# Subscription states in which the period's allocation is granted: the states in
# which billing keeps paid access (Stripe retries a past_due invoice).
GRANTING_STATUSES = frozenset({"active", "trialing", "past_due"})
FREE = "free"


async def on_user_registered(session: AsyncSession, settings: Settings, envelope: Envelope) -> None:
    event = UserRegistered.model_validate(envelope.data)
    if event.parent_user_id is not None:
        await sub_user_registered(session, envelope)
        return
    # The allocation period starts when the user registered, even if we hear of it late.
    start = min(envelope.occurred_at, datetime.now(UTC))
    await ensure_account(
        session,
        event.user_id,
        kind="user",
        free_tokens=settings.free_monthly_tokens,
        now=start,
        # An account moved in from another backend gets its imported subscription and
        # balance instead of this month's free allocation.
        grant_free=envelope.data.get("imported") is not True,
    )
    if event.org_id is not None:
        await repo.upsert_member(session, event.org_id, event.user_id, kind="org", role="member")


async def apply_subscription_changed(
    session: AsyncSession, settings: Settings, envelope: Envelope
) -> None:
    event = SubscriptionChanged.model_validate(envelope.data)
    now = datetime.now(UTC)
    is_org = event.org_id is not None and event.org_id == event.account_id
    account = await ensure_account(
        session,
        event.account_id,
        kind="org" if is_org else "user",
        free_tokens=settings.free_monthly_tokens,
        now=now,
        # The event itself says what this period's allocation is.
        grant_free=False,
    )
    if (
        account.subscription_sequence is not None
        and event.sequence <= account.subscription_sequence
    ):
        log.info(
            "stale subscription.changed %s for %s (have %s)",
            event.sequence,
            account.id,
            account.subscription_sequence,
        )
        return
    # A yearly plan's term is a year; its allocation still comes month by month.
    renews = event.plan == FREE
    start, end = term_period(
        event.current_period_start, event.current_period_end, now, renews=renews
    )
    trial_ended = account.status == "trialing" and event.status != "trialing"
    account.plan = event.plan
    account.status = event.status
    account.monthly_tokens = event.monthly_tokens
    account.limits = dict(event.limits) or None
    account.period_start, account.period_end = start, end
    account.term_end = None if renews else event.current_period_end
    account.subscription_sequence = event.sequence
    await session.flush()
    grant_from = start
    if trial_ended:
        # A trial's allocation is for the trial: it does not carry over into the free
        # plan (a trial that ended without a card) or add to the first paid month. It
        # ends now, and the new allocation starts now at the earliest: billing's period
        # starts on a whole second, which can be before the trial's grant began.
        await ledger.end_plan_grants(session, account.id, now)
        grant_from = max(start, now)
    if event.status in GRANTING_STATUSES:
        await grant_plan_allocation(session, account.id, grant_from, end, event.monthly_tokens, now)


async def on_user_deleted(session: AsyncSession, envelope: Envelope) -> None:
    """Erase what is personal; the ledger and anonymous aggregates stay."""
    event = UserDeleted.model_validate(envelope.data)
    await repo.erase_user(session, event.user_id, datetime.now(UTC))
