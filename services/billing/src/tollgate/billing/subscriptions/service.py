"""What a customer can do with their subscription: subscribe, change plan, cancel, resume."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.config import Settings
from tollgate.billing.members.access import Access, account_of
from tollgate.billing.models import Customer, OpenCheckout, Plan, Subscription
from tollgate.billing.plans import repository as plans
from tollgate.billing.plans.service import require_plan, stripe_price
from tollgate.billing.stripe_api import StripeApi
from tollgate.billing.subscriptions import domain, sync
from tollgate.billing.subscriptions import repository as subscriptions
from tollgate.billing.subscriptions.schemas import (
    ChangePlanRequest,
    CheckoutOut,
    SubscribeOut,
    SubscribeRequest,
    SubscriptionOut,
)
from tollgate.shared.errors import BadRequest, Conflict, NotFound
from tollgate.shared.security import Principal


async def describe(session: AsyncSession, row: Subscription) -> SubscriptionOut:
    plan = await plans.get(session, row.plan)
    assert plan is not None
    return SubscriptionOut(
        account_id=row.account_id,
        user_id=row.user_id,
        org_id=row.org_id,
        plan=row.plan,
        status=row.status,
        seats=row.seats,
        current_period_start=row.current_period_start,
        current_period_end=row.current_period_end,
        cancel_at_period_end=row.cancel_at_period_end,
        scheduled_plan=row.scheduled_plan,
        scheduled_at=row.scheduled_at,
        billing_interval=row.billing_interval,
        trial_end=row.trial_end,
        trial_used=row.trial_started_at is not None,
        monthly_tokens=plan.monthly_tokens * max(1, row.seats),
        limits=dict(plan.limits),
        billed_by="stripe" if row.stripe_subscription_id else "tollgate",
        sequence=row.sequence,
    )


async def current(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID | None
) -> SubscriptionOut:
    account = await account_of(session, principal, org_id, Access.READ)
    row = await subscriptions.get(session, account.id)
    if row is None:
        raise NotFound("This account has no subscription yet", type_slug="no-subscription")
    return await describe(session, row)


async def stripe_customer(session: AsyncSession, stripe: StripeApi, user_id: uuid.UUID) -> Customer:
    """The payer's Stripe customer, created now if registration could not create it."""
    customer = await subscriptions.get_customer(session, user_id)
    if customer is None or customer.deleted_at is not None:
        raise Conflict(
            "Your billing account is not ready yet; try again in a moment",
            type_slug="billing-account-not-ready",
        )
    if customer.stripe_customer_id is None:
        created = await stripe.create_customer(
            email=customer.email or "",
            name=customer.name,
            user_id=str(user_id),
            idempotency_key=customer.stripe_customer_key or f"tollgate-customer-{user_id}",
        )
        customer.stripe_customer_id = str(created["id"])
        await session.flush()
    return customer


def purchasable(plan: Plan, interval: str = "month") -> str:
    if plan.code == domain.FREE:
        raise BadRequest(
            "The free plan needs no subscription; cancel the paid one to return to it",
            type_slug="free-plan",
        )
    price = stripe_price(plan, interval)
    if not price:
        sold = "yearly" if interval == "year" else "yet"
        raise Conflict(
            f"The {plan.name} plan cannot be bought {sold}", type_slug="plan-not-for-sale"
        )
    return price


def trial_days(plan: Plan, row: Subscription) -> int:
    """Days of the trial the account may start on ``plan``: one trial per account, ever."""
    if plan.trial_days <= 0:
        raise BadRequest(f"The {plan.name} plan has no free trial", type_slug="no-trial")
    if row.trial_started_at is not None:
        raise Conflict(
            "This account has had its free trial; subscribe without one",
            type_slug="trial-already-used",
        )
    return plan.trial_days


def checkout_key(row: Subscription, params: dict[str, Any], previous: str | None) -> str:
    """Stripe's idempotency key for a new Checkout page, ours whatever the client sends.

    It changes with the account's state (its sequence) and with the page it replaces,
    so a lost answer is replayed by Stripe while a page that expired is replaced.
    """
    material = json.dumps([str(row.account_id), row.sequence, previous, params], sort_keys=True)
    return f"tollgate-checkout-{hashlib.sha256(material.encode()).hexdigest()[:32]}"


async def still_open(stripe: StripeApi, kept: OpenCheckout | None) -> bool:
    if kept is None:
        return False
    try:
        page = await stripe.get_checkout_session(kept.session_id)
    except BadRequest:
        return False  # gone from Stripe
    return page.get("status") == "open"


def has_paid_subscription(row: Subscription) -> bool:
    return row.stripe_subscription_id is not None and row.status in domain.PAID_ACCESS


async def subscribe(
    session: AsyncSession,
    stripe: StripeApi,
    settings: Settings,
    principal: Principal,
    request: SubscribeRequest,
    idempotency_key: str | None,
) -> SubscribeOut:
    account_choice = await account_of(session, principal, request.org_id, Access.MANAGE)
    account, org = account_choice.id, account_choice.org_id
    plan = await require_plan(session, request.plan)
    price = purchasable(plan, request.interval)
    if request.seats > 1 and org is None:
        raise BadRequest("Seats are for organization subscriptions", type_slug="seats-need-org")
    user_id = principal.user_id
    row = await sync.lock_account(session, account, user_id, org)
    if has_paid_subscription(row):
        raise Conflict(
            f"This account already pays for {row.plan}; change plan instead",
            type_slug="already-subscribed",
        )
    days = trial_days(plan, row) if request.trial else 0
    customer = await stripe_customer(session, stripe, user_id)
    metadata = {
        "tollgate_account_id": str(account),
        "tollgate_user_id": str(user_id),
        "tollgate_org_id": str(org) if org else "",
        "tollgate_plan": plan.code,
    }
    item = {"price": price, "quantity": request.seats}
    trial = trial_terms(days)
    if request.payment_method_id:
        created = await stripe.create_subscription(
            {
                "customer": customer.stripe_customer_id,
                "items": [item],
                "default_payment_method": request.payment_method_id,
                "payment_behavior": "error_if_incomplete",
                "metadata": metadata,
                **trial,
            },
            idempotency_key,
        )
        await sync.apply_subscription(session, row, created)
        return SubscribeOut(subscription=await describe(session, row))
    params: dict[str, Any] = {
        "mode": "subscription",
        "customer": customer.stripe_customer_id,
        "client_reference_id": str(account),
        "line_items": [item],
        "success_url": str(request.success_url or settings.checkout_success_url),
        "cancel_url": str(request.cancel_url or settings.checkout_cancel_url),
        "metadata": metadata,
        "subscription_data": {"metadata": metadata, **trial},
        # The person may enter a Stripe promotion code on the page; Stripe applies it.
        "allow_promotion_codes": True,
    }
    if days:
        # A trial starts without a card; one added later (billing portal) is charged
        # when it ends, and without one Stripe cancels it (see trial_terms).
        params["payment_method_collection"] = "if_required"
    offer = subscriptions.Offer(plan.code, request.interval, bool(days))
    # One open Checkout page per account and offer: a second request, whatever its
    # Idempotency-Key, is sent to the first page, so nobody pays for a plan twice.
    kept = await subscriptions.open_checkout(session, account, offer)
    if kept is not None and await still_open(stripe, kept):
        return SubscribeOut(checkout=CheckoutOut(checkout_url=kept.url, session_id=kept.session_id))
    previous = kept.session_id if kept is not None else None
    checkout = await stripe.create_checkout_session(params, checkout_key(row, params, previous))
    url, session_id = str(checkout["url"]), str(checkout["id"])
    await subscriptions.remember_checkout(session, account, offer, session_id, url)
    return SubscribeOut(checkout=CheckoutOut(checkout_url=url, session_id=session_id))


def trial_terms(days: int) -> dict[str, Any]:
    """Stripe's subscription parameters of a trial of ``days`` days ({} for none).

    When the trial ends without a payment method Stripe cancels the subscription, and
    the account is back on free like any ended subscription.
    """
    if not days:
        return {}
    return {
        "trial_period_days": days,
        "trial_settings": {"end_behavior": {"missing_payment_method": "cancel"}},
    }


async def _paid_row(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID | None
) -> Subscription:
    account = await account_of(session, principal, org_id, Access.MANAGE)
    row = await subscriptions.lock(session, account.id)
    if row is None or not has_paid_subscription(row):
        raise Conflict("This account has no paid subscription", type_slug="no-paid-subscription")
    return row


async def change_plan(
    session: AsyncSession, stripe: StripeApi, principal: Principal, request: ChangePlanRequest
) -> SubscriptionOut:
    """Upgrades take effect now, prorated; downgrades wait for the end of the paid period."""
    target = await require_plan(session, request.plan)
    row = await _paid_row(session, principal, request.org_id)
    if target.code == domain.FREE:
        return await cancel(session, stripe, principal, request.org_id, immediately=False)
    if target.code == row.plan and row.scheduled_plan is None:
        raise Conflict(f"The account is already on {target.name}", type_slug="already-on-plan")
    # A yearly subscriber changes to the other plan's yearly price.
    price = purchasable(target, row.billing_interval)
    current_plan = await plans.get(session, row.plan)
    assert current_plan is not None and row.stripe_subscription_id is not None
    live = await stripe.get_subscription(row.stripe_subscription_id)
    item_id = domain.StripeSubscription.parse(live).item_id
    params: dict[str, Any] = {"items": [{"id": item_id, "price": price}]}
    if target.code == row.plan:
        # Back to the plan they still have: the pending downgrade is called off.
        params["proration_behavior"] = "none"
        row.scheduled_plan, row.scheduled_at = None, None
    elif target.price > current_plan.price:
        params["proration_behavior"] = "always_invoice"
        params["cancel_at_period_end"] = False
        row.scheduled_plan, row.scheduled_at = None, None
    else:
        params["proration_behavior"] = "none"
        row.scheduled_plan, row.scheduled_at = target.code, row.current_period_end
    updated = await stripe.update_subscription(row.stripe_subscription_id, params)
    await sync.apply_subscription(session, row, updated)
    return await describe(session, row)


async def cancel(
    session: AsyncSession,
    stripe: StripeApi,
    principal: Principal,
    org_id: uuid.UUID | None,
    *,
    immediately: bool,
) -> SubscriptionOut:
    row = await _paid_row(session, principal, org_id)
    assert row.stripe_subscription_id is not None
    if immediately:
        updated = await stripe.cancel_subscription(row.stripe_subscription_id)
    else:
        updated = await stripe.update_subscription(
            row.stripe_subscription_id, {"cancel_at_period_end": True}
        )
    await sync.apply_subscription(session, row, updated)
    return await describe(session, row)


async def resume(
    session: AsyncSession, stripe: StripeApi, principal: Principal, org_id: uuid.UUID | None
) -> SubscriptionOut:
    row = await _paid_row(session, principal, org_id)
    assert row.stripe_subscription_id is not None
    if not row.cancel_at_period_end:
        raise Conflict("The subscription is not set to end", type_slug="nothing-to-resume")
    updated = await stripe.update_subscription(
        row.stripe_subscription_id, {"cancel_at_period_end": False}
    )
    await sync.apply_subscription(session, row, updated)
    return await describe(session, row)
