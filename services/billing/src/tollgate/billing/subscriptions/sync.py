"""Keeping an account's row in step with Stripe, and telling the others through the outbox."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.context import SOURCE
from tollgate.billing.models import Subscription, messaging
from tollgate.billing.plans import repository as plans
from tollgate.billing.plans.service import interval_of
from tollgate.billing.stripe_api import StripeApi
from tollgate.billing.subscriptions import domain, duplicates
from tollgate.billing.subscriptions import repository as subscriptions
from tollgate.billing.subscriptions.domain import AccountPlan, StripeSubscription
from tollgate.shared.messaging import add_event
from tollgate.shared.messaging.events import SubscriptionChanged

log = logging.getLogger("tollgate.billing.subscriptions")


def now_utc() -> datetime:
    return datetime.now(UTC)


def state_of(row: Subscription) -> AccountPlan:
    return AccountPlan(
        plan=row.plan,
        status=row.status,
        stripe_subscription_id=row.stripe_subscription_id,
        period_start=row.current_period_start,
        period_end=row.current_period_end,
        cancel_at_period_end=row.cancel_at_period_end,
        seats=row.seats,
        scheduled_plan=row.scheduled_plan,
        scheduled_at=row.scheduled_at,
        billing_interval=row.billing_interval,
        trial_end=row.trial_end,
    )


async def store(session: AsyncSession, row: Subscription, new: AccountPlan) -> bool:
    """Write the new state; publish subscription.changed if anything consumers see moved."""
    old = state_of(row)
    changed: bool = old.published_fields() != new.published_fields()
    row.plan = new.plan
    row.status = new.status
    row.stripe_subscription_id = new.stripe_subscription_id
    row.current_period_start = new.period_start
    row.current_period_end = new.period_end
    row.cancel_at_period_end = new.cancel_at_period_end
    row.seats = new.seats
    row.scheduled_plan = new.scheduled_plan
    row.scheduled_at = new.scheduled_at
    row.billing_interval = new.billing_interval
    row.trial_end = new.trial_end
    if new.status == "trialing" and row.trial_started_at is None:
        # The account's one trial is spent once Stripe has started it.
        row.trial_started_at = now_utc()
    if changed:
        await publish(session, row)
    else:
        await session.flush()
    return changed


async def publish(session: AsyncSession, row: Subscription) -> None:
    row.sequence = (row.sequence or 0) + 1
    await session.flush()
    plan = await plans.get(session, row.plan)
    assert plan is not None
    await add_event(
        session,
        messaging.outbox,
        SOURCE,
        row.account_id,
        SubscriptionChanged(
            account_id=row.account_id,
            user_id=row.user_id,
            org_id=row.org_id,
            plan=row.plan,
            status=row.status,
            current_period_start=row.current_period_start,
            current_period_end=row.current_period_end,
            cancel_at_period_end=row.cancel_at_period_end,
            # An organization's pool grows with its seats.
            monthly_tokens=plan.monthly_tokens * max(1, row.seats),
            limits=dict(plan.limits),
            sequence=row.sequence,
        ),
    )


async def start_free(
    session: AsyncSession, *, user_id: uuid.UUID, org_id: uuid.UUID | None = None
) -> Subscription:
    """Give an account the free plan if it has no subscription yet; announce it once."""
    start, end = domain.free_period(now_utc())
    row, created = await subscriptions.lock_or_create(
        session,
        account_id=org_id or user_id,
        user_id=user_id,
        org_id=org_id,
        period_start=start,
        period_end=end,
    )
    if created:
        await publish(session, row)
    return row


async def lock_account(
    session: AsyncSession, account_id: uuid.UUID, user_id: uuid.UUID, org_id: uuid.UUID | None
) -> Subscription:
    start, end = domain.free_period(now_utc())
    row, _ = await subscriptions.lock_or_create(
        session,
        account_id=account_id,
        user_id=user_id,
        org_id=org_id,
        period_start=start,
        period_end=end,
    )
    return row


async def apply_subscription(session: AsyncSession, row: Subscription, obj: dict[str, Any]) -> bool:
    """Apply Stripe's subscription object to the (locked) account row."""
    sub = StripeSubscription.parse(obj)
    plan = await plans.by_price_id(session, sub.price_id) if sub.price_id else None
    if plan is None:
        log.warning(
            "subscription %s has price %s, which no plan uses; ignored", sub.id, sub.price_id
        )
        return False
    interval = interval_of(plan, sub.price_id)
    new = domain.apply_stripe(state_of(row), sub, plan.code, now_utc(), interval)
    return await store(session, row, new)


async def account_for(
    session: AsyncSession, sub: StripeSubscription
) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID | None] | None:
    """(account, paying user, org) of a Stripe subscription: our metadata, else its customer."""
    meta = sub.metadata
    account = domain.parse_uuid(meta.get("tollgate_account_id"))
    user = domain.parse_uuid(meta.get("tollgate_user_id"))
    org = domain.parse_uuid(meta.get("tollgate_org_id"))
    if account and user:
        return account, user, org
    known = await subscriptions.by_stripe_id(session, sub.id)
    if known is not None:
        return known.account_id, known.user_id, known.org_id
    customer = await subscriptions.customer_by_stripe_id(session, sub.customer)
    if customer is not None:
        return customer.user_id, customer.user_id, None
    return None


async def sync_subscription(
    session: AsyncSession, stripe: StripeApi, snapshot: dict[str, Any]
) -> bool:
    """Lock the account, refetch the subscription from Stripe, apply what Stripe says now.

    Refetching under the lock means whichever event is applied last applies the
    newest state, whatever order Stripe delivered the events in.
    """
    owner = await account_for(session, StripeSubscription.parse(snapshot))
    if owner is None:
        log.warning("subscription %s belongs to no account we know; ignored", snapshot.get("id"))
        return False
    row = await lock_account(session, *owner)
    current = await stripe.get_subscription(str(snapshot["id"]))
    if await duplicates.is_duplicate(session, row, current):
        await duplicates.settle(session, stripe, row, current)
        return False
    return await apply_subscription(session, row, current)


async def renew_local_periods(session: AsyncSession, limit: int = 500) -> int:
    """Roll free and complimentary subscriptions into their next period, one event each."""
    now = now_utc()
    rows = await subscriptions.local_periods_due(session, now, limit)
    for row in rows:
        start, end = row.current_period_start, row.current_period_end
        while end <= now:
            start, end = end, domain.add_month(end)
        row.current_period_start, row.current_period_end = start, end
        await publish(session, row)
    return len(rows)
