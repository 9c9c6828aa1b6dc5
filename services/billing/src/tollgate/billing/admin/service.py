"""An admin putting a user on a plan: through Stripe when Stripe bills them, else complimentary."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.plans.service import require_plan, stripe_price
from tollgate.billing.stripe_api import StripeApi
from tollgate.billing.subscriptions import domain, sync
from tollgate.billing.subscriptions.domain import StripeSubscription
from tollgate.billing.subscriptions.schemas import SubscriptionOut
from tollgate.billing.subscriptions.service import describe, has_paid_subscription
from tollgate.shared.errors import Conflict


async def set_plan(
    session: AsyncSession, stripe: StripeApi, user_id: uuid.UUID, plan_code: str
) -> SubscriptionOut:
    plan = await require_plan(session, plan_code)
    row = await sync.lock_account(session, user_id, user_id, None)
    if row.plan == plan.code and row.scheduled_plan is None:
        raise Conflict(f"The user is already on {plan.name}", type_slug="already-on-plan")
    if has_paid_subscription(row):
        assert row.stripe_subscription_id is not None
        if plan.code == domain.FREE:
            ended = await stripe.cancel_subscription(row.stripe_subscription_id)
            await sync.apply_subscription(session, row, ended)
            return await describe(session, row)
        price = stripe_price(plan, row.billing_interval)
        if price:
            live = await stripe.get_subscription(row.stripe_subscription_id)
            item_id = StripeSubscription.parse(live).item_id
            row.scheduled_plan, row.scheduled_at = None, None
            updated = await stripe.update_subscription(
                row.stripe_subscription_id,
                {
                    "items": [{"id": item_id, "price": price}],
                    # The admin's decision, not the customer's: no surprise invoice.
                    "proration_behavior": "none",
                },
            )
            await sync.apply_subscription(session, row, updated)
            return await describe(session, row)
    # Not billed by Stripe: a complimentary plan that starts a fresh period today.
    plan_row = domain.unbilled(plan.code, domain.free_period(sync.now_utc()))
    await sync.store(session, row, plan_row)
    return await describe(session, row)
