"""Buying a pack through Checkout, recording a paid pack once, and refunds' credits.

A purchase row exists before the customer pays: its id travels in Stripe's metadata,
so whichever of Stripe's events arrives first (the Checkout session completed, the
PaymentIntent succeeded), in any order and any number of times, finds the row,
locks it, and only the first one that sees it unpaid records it and publishes
``credits.purchased``.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.config import Settings
from tollgate.billing.context import SOURCE
from tollgate.billing.invoices import mirror
from tollgate.billing.invoices import repository as payments
from tollgate.billing.members.access import Access, account_of
from tollgate.billing.models import CreditPack, Purchase, messaging
from tollgate.billing.stripe_api import StripeApi
from tollgate.billing.subscriptions import sync
from tollgate.billing.subscriptions.service import stripe_customer
from tollgate.billing.topups import catalog, repository
from tollgate.billing.topups.schemas import BuyPackRequest, PackCheckoutOut
from tollgate.shared.errors import BadRequest
from tollgate.shared.messaging import add_event
from tollgate.shared.messaging.events import CreditsPurchased, CreditsRefunded
from tollgate.shared.security import Principal

log = logging.getLogger("tollgate.billing.topups")

PURCHASE_KEY = "tollgate_purchase_id"


async def _page_still_open(stripe: StripeApi, purchase: Purchase) -> bool:
    assert purchase.checkout_session_id is not None
    try:
        page = await stripe.get_checkout_session(purchase.checkout_session_id)
    except BadRequest:
        return False  # gone from Stripe
    return page.get("status") == "open"


def next_purchase_id(account_id: uuid.UUID, pack: CreditPack, latest: Purchase | None) -> uuid.UUID:
    """The id of the account's next purchase of ``pack``, the same on every attempt.

    It follows from the purchase before it (and the pack's terms), so a request
    retried after Stripe's answer was lost names the same purchase and Checkout page,
    while a purchase after a paid or expired one gets a new id.
    """
    material = json.dumps(
        [str(account_id), pack.code, pack.credits, pack.price_cents, str(latest and latest.id)]
    )
    return uuid.uuid5(uuid.NAMESPACE_URL, f"tollgate:pack-purchase:{material}")


async def buy(
    session: AsyncSession,
    stripe: StripeApi,
    settings: Settings,
    principal: Principal,
    pack_code: str,
    request: BuyPackRequest,
) -> PackCheckoutOut:
    """A Checkout page for the pack; a second click while it is open gets the same page."""
    account = await account_of(session, principal, request.org_id, Access.MANAGE)
    pack = await catalog.for_sale(session, pack_code)
    # Buyers of one account queue up here, so two clicks cannot open two pages.
    await sync.lock_account(session, account.id, principal.user_id, account.org_id)
    latest = await repository.latest_purchase(session, account.id, pack.code)
    kept = latest if latest is not None and latest.status == "open" else None
    if kept is not None:
        if await _page_still_open(stripe, kept):
            assert kept.checkout_url is not None and kept.checkout_session_id is not None
            return PackCheckoutOut(
                purchase_id=kept.id,
                checkout_url=kept.checkout_url,
                session_id=kept.checkout_session_id,
            )
        kept.status = "expired"
        await session.flush()
    customer = await stripe_customer(session, stripe, principal.user_id)
    purchase = Purchase(
        id=next_purchase_id(account.id, pack, latest),
        account_id=account.id,
        user_id=principal.user_id,
        org_id=account.org_id,
        pack_code=pack.code,
        credits=pack.credits,
        price_cents=pack.price_cents,
        currency=pack.currency,
        valid_days=pack.valid_days,
        kind="checkout",
        status="open",
    )
    metadata = {
        PURCHASE_KEY: str(purchase.id),
        "tollgate_account_id": str(account.id),
        "tollgate_pack": pack.code,
    }
    back = settings.top_up_return_url
    page = await stripe.create_checkout_session(
        {
            "mode": "payment",
            "customer": customer.stripe_customer_id,
            "client_reference_id": str(account.id),
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": pack.currency,
                        "unit_amount": pack.price_cents,
                        "product_data": {"name": pack.name},
                    },
                }
            ],
            # Saves the card for auto top-up, which pays off-session.
            "payment_intent_data": {"setup_future_usage": "off_session", "metadata": metadata},
            "metadata": metadata,
            "success_url": str(request.success_url or f"{back}?checkout=paid"),
            "cancel_url": str(request.cancel_url or f"{back}?checkout=cancelled"),
        },
        # Named by the purchase: a retry after a lost answer gets Stripe's first page.
        f"tollgate-pack-checkout-{purchase.id}",
    )
    purchase.checkout_session_id, purchase.checkout_url = str(page["id"]), str(page["url"])
    session.add(purchase)
    await session.flush()
    return PackCheckoutOut(
        purchase_id=purchase.id,
        checkout_url=purchase.checkout_url,
        session_id=purchase.checkout_session_id,
    )


def purchase_id_of(obj: dict[str, Any]) -> uuid.UUID | None:
    raw = (
        (obj.get("metadata") or {}).get(PURCHASE_KEY)
        if isinstance(obj.get("metadata"), dict)
        else None
    )
    try:
        return uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None


async def record_paid(
    session: AsyncSession, stripe: StripeApi, purchase: Purchase, intent: dict[str, Any]
) -> bool:
    """Record the (locked) purchase as paid by ``intent``, once; True if it was news."""
    if purchase.status == "paid":
        return False
    if (
        intent.get("status") != "succeeded"
        or int(intent.get("amount") or 0) != purchase.price_cents
        or str(intent.get("currency") or "") != purchase.currency
    ):
        log.warning("payment %s does not pay purchase %s; ignored", intent.get("id"), purchase.id)
        return False
    now = sync.now_utc()
    purchase.status, purchase.paid_at, purchase.failure = "paid", now, None
    purchase.payment_intent_id = str(intent["id"])
    purchase.charge_id = mirror.object_id(intent.get("latest_charge"))
    if purchase.valid_days is not None:
        purchase.credits_expire_at = now + timedelta(days=purchase.valid_days)
    await session.flush()
    if purchase.charge_id:
        # Into the payments list, where admins refund it.
        await mirror.mirror_charge(session, stripe, purchase.charge_id, account=purchase.account_id)
    await add_event(
        session,
        messaging.outbox,
        SOURCE,
        purchase.account_id,
        CreditsPurchased(
            purchase_id=purchase.id,
            account_id=purchase.account_id,
            pack_code=purchase.pack_code,
            credits=purchase.credits,
            expires_at=purchase.credits_expire_at,
            org_id=purchase.org_id,
        ),
    )
    return True


async def save_card(stripe: StripeApi, intent: dict[str, Any]) -> None:
    """The card a pack was paid with becomes the customer's default: auto top-up uses it."""
    card = mirror.object_id(intent.get("payment_method"))
    customer = mirror.object_id(intent.get("customer"))
    if card and customer and intent.get("setup_future_usage") == "off_session":
        await stripe.update_customer(
            customer, {"invoice_settings": {"default_payment_method": card}}
        )


async def on_payment(
    session: AsyncSession, stripe: StripeApi, purchase_id: uuid.UUID, intent_id: str
) -> None:
    """A payment for a purchase succeeded (as one of Stripe's events says): record it once."""
    purchase = await repository.lock_purchase(session, purchase_id)
    if purchase is None:
        log.warning("payment %s names purchase %s, which we do not know", intent_id, purchase_id)
        return
    if purchase.status == "paid":
        return
    intent = await stripe.get_payment_intent(intent_id)
    if await record_paid(session, stripe, purchase, intent) and purchase.kind == "checkout":
        await save_card(stripe, intent)


async def on_checkout_expired(session: AsyncSession, purchase_id: uuid.UUID) -> None:
    purchase = await repository.lock_purchase(session, purchase_id)
    if purchase is not None and purchase.status == "open":
        purchase.status = "expired"
        await session.flush()


def credits_for(purchase: Purchase, refunded_cents: int) -> int:
    """Credits that ``refunded_cents`` of the pack's price buy back, rounded down."""
    refunded = min(max(refunded_cents, 0), purchase.price_cents)
    return purchase.credits * refunded // purchase.price_cents


async def on_charge_refunded(session: AsyncSession, charge_id: str, refund_id: str) -> None:
    """The pack's charge was refunded (in part): usage takes back the credits not yet given back.

    Run after the charge is mirrored; the purchase row's ``credits_refunded`` is the
    running total, so a refund seen twice (our route, then its webhook) counts once.
    """
    # The refund route holds the payment's lock already: the same order here.
    payment = await payments.lock_payment(session, charge_id)
    purchase = await repository.by_charge(session, charge_id)
    if purchase is None or payment is None:
        return
    owed = credits_for(purchase, payment.amount_refunded)
    more = owed - purchase.credits_refunded
    if more <= 0:
        return
    purchase.credits_refunded = owed
    await session.flush()
    await add_event(
        session,
        messaging.outbox,
        SOURCE,
        purchase.account_id,
        CreditsRefunded(
            purchase_id=purchase.id,
            refund_id=refund_id,
            account_id=purchase.account_id,
            credits=more,
        ),
    )
