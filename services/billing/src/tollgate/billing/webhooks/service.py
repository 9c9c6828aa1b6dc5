"""Applying one Stripe event: recorded under its id in the same transaction as its effects."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.invoices import mirror
from tollgate.billing.stripe_api import StripeApi
from tollgate.billing.subscriptions import repository as subscriptions
from tollgate.billing.subscriptions import sync
from tollgate.billing.subscriptions.domain import on_free
from tollgate.billing.topups import auto, purchases
from tollgate.billing.webhooks import repository
from tollgate.billing.webhooks.signature import stripe_id
from tollgate.shared.errors import BadRequest

log = logging.getLogger("tollgate.billing.webhooks")

Effect = Callable[[AsyncSession, StripeApi, dict[str, Any]], Awaitable[None]]


def _customer(obj: dict[str, Any]) -> str | None:
    """The object's customer id, checked: it is looked up in our tables."""
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    return None if customer is None else stripe_id(customer, "customer")


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise BadRequest("The webhook's metadata is not an object", type_slug="invalid-webhook")
    return metadata


async def _checkout_completed(
    session: AsyncSession, stripe: StripeApi, obj: dict[str, Any]
) -> None:
    if obj.get("mode") == "payment":
        await _pack_checkout_completed(session, stripe, obj)
        return
    sub_id = obj.get("subscription")
    if obj.get("mode") != "subscription" or not sub_id:
        return
    sub_id = stripe_id(sub_id.get("id") if isinstance(sub_id, dict) else sub_id, "subscription")
    snapshot = {
        "id": sub_id,
        "customer": _customer(obj),
        "metadata": _metadata(obj),
    }
    await sync.sync_subscription(session, stripe, snapshot)


async def _pack_checkout_completed(
    session: AsyncSession, stripe: StripeApi, obj: dict[str, Any]
) -> None:
    purchase_id = purchases.purchase_id_of(obj)
    intent = obj.get("payment_intent")
    if purchase_id is None or not intent or obj.get("payment_status") != "paid":
        return  # not a pack, or paid later (payment_intent.succeeded says so then)
    intent_id = stripe_id(intent.get("id") if isinstance(intent, dict) else intent, "payment")
    await purchases.on_payment(session, stripe, purchase_id, intent_id)


async def _payment_succeeded(session: AsyncSession, stripe: StripeApi, obj: dict[str, Any]) -> None:
    purchase_id = purchases.purchase_id_of(obj)
    if purchase_id is not None:
        await purchases.on_payment(session, stripe, purchase_id, str(obj["id"]))


async def _payment_failed(session: AsyncSession, stripe: StripeApi, obj: dict[str, Any]) -> None:
    purchase_id = purchases.purchase_id_of(obj)
    if purchase_id is not None:
        error = obj.get("last_payment_error") or {}
        reason = error.get("message") if isinstance(error, dict) else None
        await auto.on_payment_failed(session, purchase_id, str(reason or "the payment failed"))


async def _checkout_expired(session: AsyncSession, stripe: StripeApi, obj: dict[str, Any]) -> None:
    purchase_id = purchases.purchase_id_of(obj)
    if purchase_id is not None:
        await purchases.on_checkout_expired(session, purchase_id)


async def _subscription(session: AsyncSession, stripe: StripeApi, obj: dict[str, Any]) -> None:
    # Only the ids and metadata are read from the event: the rest is refetched from Stripe.
    snapshot = {"id": obj["id"], "customer": _customer(obj), "metadata": _metadata(obj)}
    await sync.sync_subscription(session, stripe, snapshot)


async def _invoice(session: AsyncSession, stripe: StripeApi, obj: dict[str, Any]) -> None:
    sub_id = await mirror.mirror_invoice(session, stripe, str(obj["id"]))
    if sub_id:
        # A paid or failed invoice moves the subscription's status (past_due, active).
        try:
            _, meta = mirror.invoice_subscription(obj)
        except (AttributeError, TypeError, ValueError):
            meta = {}  # the invoice mirrored above came from Stripe; this only helps find its owner
        await sync.sync_subscription(
            session, stripe, {"id": sub_id, "customer": _customer(obj), "metadata": meta}
        )


async def _charge_refunded(session: AsyncSession, stripe: StripeApi, obj: dict[str, Any]) -> None:
    charge_id = str(obj["id"])
    await mirror.mirror_charge(session, stripe, charge_id)
    # A refund made in Stripe's dashboard takes a pack's credits back as ours does.
    refunded = obj.get("amount_refunded")
    await purchases.on_charge_refunded(session, charge_id, f"{charge_id}-refunded-{refunded}")


async def _customer_deleted(session: AsyncSession, stripe: StripeApi, obj: dict[str, Any]) -> None:
    customer = await subscriptions.customer_by_stripe_id(session, str(obj["id"]))
    if customer is None:
        return
    customer.stripe_customer_id = None
    # Stripe cancels a deleted customer's subscriptions; the account is back on free.
    row = await subscriptions.lock(session, customer.user_id)
    if row is not None and row.stripe_subscription_id is not None:
        await sync.store(session, row, on_free(sync.state_of(row), sync.now_utc(), None))
    await session.flush()


EFFECTS: dict[str, Effect] = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.expired": _checkout_expired,
    "payment_intent.succeeded": _payment_succeeded,
    "payment_intent.payment_failed": _payment_failed,
    "customer.subscription.created": _subscription,
    "customer.subscription.updated": _subscription,
    "customer.subscription.deleted": _subscription,
    "customer.subscription.paused": _subscription,
    "customer.subscription.resumed": _subscription,
    "customer.subscription.trial_will_end": _subscription,
    "invoice.paid": _invoice,
    "invoice.payment_succeeded": _invoice,
    "invoice.payment_failed": _invoice,
    "invoice.finalized": _invoice,
    "charge.refunded": _charge_refunded,
    "customer.deleted": _customer_deleted,
}


async def apply_event(
    session: AsyncSession, stripe: StripeApi, event: dict[str, Any], *, source: str
) -> str:
    """Apply a Stripe event once. Returns applied, duplicate, ignored or skipped."""
    claimed = await repository.record(
        session, str(event["id"]), str(event["type"]), int(event["created"]), source
    )
    if not claimed:
        return "duplicate"
    effect = EFFECTS.get(str(event["type"]))
    if effect is None:
        # Recorded all the same, so reconciliation does not offer it again.
        log.info("Stripe event %s of type %s ignored", event["id"], event["type"])
        return "ignored"
    try:
        await effect(session, stripe, event["data"]["object"])
    except BadRequest as exc:
        if exc.type_slug != "stripe-rejected":
            raise
        # The object is gone from Stripe (a deleted customer's subscription, say): there is
        # nothing left to apply, and retrying for days would not change that.
        log.warning("Stripe event %s skipped: %s", event["id"], exc.detail)
        return "skipped"
    return "applied"
