"""Auto top-up: a person's setting, and the off-session purchase when usage asks for one.

Usage publishes ``credits.top_up_requested`` once per crossing of the threshold (the
balance falling below it at a settlement). Here the crossing's id names the purchase
and Stripe's idempotency key, so a redelivered request buys nothing twice; and no
purchase starts while an earlier one is still pending. A declined card turns auto
top-up off and says so (``auto_top_up.disabled``), so a bad card is tried once, not
at every call.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.context import SOURCE, Billing
from tollgate.billing.members.access import Access, account_of
from tollgate.billing.models import AutoTopUp, Purchase, messaging
from tollgate.billing.stripe_api import StripeApi
from tollgate.billing.subscriptions.service import stripe_customer
from tollgate.billing.topups import catalog, repository
from tollgate.billing.topups.purchases import PURCHASE_KEY, record_paid
from tollgate.billing.topups.schemas import AutoTopUpIn, AutoTopUpOut
from tollgate.shared.errors import BadRequest, Conflict
from tollgate.shared.messaging import Envelope, Subscription, add_event
from tollgate.shared.messaging.events import AutoTopUpChanged, AutoTopUpDisabled, TopUpRequested
from tollgate.shared.security import Principal

log = logging.getLogger("tollgate.billing.topups")

QUEUE = "billing.top-up-requests"
ROUTING_KEYS = ("credits.top_up_requested",)


def describe(account_id: uuid.UUID, row: AutoTopUp | None) -> AutoTopUpOut:
    if row is None:
        return AutoTopUpOut(
            account_id=account_id, enabled=False, threshold=0, pack_code=None, disabled_reason=None
        )
    return AutoTopUpOut(
        account_id=row.account_id,
        enabled=row.enabled,
        threshold=row.threshold,
        pack_code=row.pack_code,
        disabled_reason=row.disabled_reason,
    )


async def saved_card(session: AsyncSession, stripe: StripeApi, user_id: uuid.UUID) -> str | None:
    """The payer's default card at Stripe (saved by an earlier pack's Checkout), if any."""
    customer = await stripe_customer(session, stripe, user_id)
    assert customer.stripe_customer_id is not None
    found = await stripe.get_customer(customer.stripe_customer_id)
    card = (found.get("invoice_settings") or {}).get("default_payment_method")
    if isinstance(card, dict):
        card = card.get("id")
    return str(card) if card else None


async def _publish_changed(session: AsyncSession, row: AutoTopUp) -> None:
    row.sequence = (row.sequence or 0) + 1
    await session.flush()
    await add_event(
        session,
        messaging.outbox,
        SOURCE,
        row.account_id,
        AutoTopUpChanged(
            account_id=row.account_id,
            enabled=row.enabled,
            threshold=row.threshold,
            sequence=row.sequence,
        ),
    )


async def current(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID | None
) -> AutoTopUpOut:
    account = await account_of(session, principal, org_id, Access.READ)
    return describe(account.id, await repository.get_auto(session, account.id))


async def configure(
    session: AsyncSession, stripe: StripeApi, principal: Principal, body: AutoTopUpIn
) -> AutoTopUpOut:
    account = await account_of(session, principal, body.org_id, Access.MANAGE)
    pack = await catalog.for_sale(session, body.pack_code)
    if body.enabled and await saved_card(session, stripe, principal.user_id) is None:
        raise Conflict(
            "Auto top-up pays with the card saved when you bought a pack; buy one pack first",
            type_slug="no-saved-card",
        )
    row = await repository.lock_auto(session, account.id)
    if row is None:
        row = AutoTopUp(account_id=account.id, sequence=0)
        session.add(row)
    # The card of whoever turned it on pays.
    row.user_id, row.org_id = principal.user_id, account.org_id
    row.enabled, row.threshold, row.pack_code = body.enabled, body.threshold, pack.code
    row.disabled_reason = None
    await _publish_changed(session, row)
    return describe(account.id, row)


async def _turn_off(session: AsyncSession, row: AutoTopUp, reason: str) -> None:
    row.enabled, row.disabled_reason = False, reason
    await _publish_changed(session, row)
    await add_event(
        session,
        messaging.outbox,
        SOURCE,
        row.account_id,
        AutoTopUpDisabled(
            account_id=row.account_id, user_id=row.user_id, pack_code=row.pack_code, reason=reason
        ),
    )


async def top_up(session: AsyncSession, stripe: StripeApi, request: TopUpRequested) -> str:
    """Buy the account's pack off-session for one crossing; returns what happened."""
    row = await repository.lock_auto(session, request.account_id)
    if row is None or not row.enabled:
        return "off"
    if await repository.by_crossing(session, request.crossing_id) is not None:
        return "already-bought"
    if await repository.pending_auto(session, request.account_id) is not None:
        return "pending"
    pack = await repository.get_pack(session, row.pack_code)
    if pack is None or not pack.active:
        await _turn_off(session, row, "The pack chosen for auto top-up is no longer sold")
        return "pack-retired"
    card = await saved_card(session, stripe, row.user_id)
    if card is None:
        await _turn_off(session, row, "There is no saved card to pay with")
        return "no-card"
    customer = await stripe_customer(session, stripe, row.user_id)
    purchase = Purchase(
        id=uuid.uuid5(uuid.NAMESPACE_URL, f"tollgate:top-up:{request.crossing_id}"),
        account_id=row.account_id,
        user_id=row.user_id,
        org_id=row.org_id,
        pack_code=pack.code,
        credits=pack.credits,
        price_cents=pack.price_cents,
        currency=pack.currency,
        valid_days=pack.valid_days,
        kind="auto",
        status="pending",
        crossing_id=request.crossing_id,
    )
    session.add(purchase)
    await session.flush()
    try:
        intent = await stripe.create_payment_intent(
            {
                "amount": pack.price_cents,
                "currency": pack.currency,
                "customer": customer.stripe_customer_id,
                "payment_method": card,
                "confirm": True,
                "off_session": True,
                "description": f"Auto top-up: {pack.name}",
                "metadata": {
                    PURCHASE_KEY: str(purchase.id),
                    "tollgate_account_id": str(row.account_id),
                    "tollgate_pack": pack.code,
                },
            },
            # One payment per crossing, however often this request is redelivered.
            f"tollgate-top-up-{request.crossing_id}",
        )
    except BadRequest as exc:
        purchase.status, purchase.failure = "failed", exc.detail
        await _turn_off(session, row, f"Auto top-up was turned off: {exc.detail}")
        return "declined"
    purchase.payment_intent_id = str(intent["id"])
    await session.flush()
    if await record_paid(session, stripe, purchase, intent):
        return "paid"
    # processing, or waiting for the customer: the payment_intent webhook finishes it.
    return "pending"


def subscription(billing: Billing) -> Subscription:
    async def handle(session: AsyncSession, envelope: Envelope) -> None:
        data = envelope.parsed()
        if isinstance(data, TopUpRequested):
            outcome = await top_up(session, billing.stripe, data)
            log.info("top-up for account %s: %s", data.account_id, outcome)

    return Subscription(QUEUE, ROUTING_KEYS, handle)


async def on_payment_failed(session: AsyncSession, purchase_id: uuid.UUID, reason: str) -> None:
    """An off-session payment that was processing failed after all: as a decline."""
    purchase = await repository.lock_purchase(session, purchase_id)
    if purchase is None or purchase.kind != "auto" or purchase.status != "pending":
        return
    purchase.status, purchase.failure = "failed", reason
    row = await repository.lock_auto(session, purchase.account_id)
    if row is not None and row.enabled:
        await _turn_off(session, row, f"Auto top-up was turned off: {reason}")
    await session.flush()
