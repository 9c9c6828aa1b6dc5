"""A second paid subscription for an account that already pays: cancelled and refunded.

Two Checkout pages for different plans can both be paid (one page per plan is
reused, see ``service.subscribe``), and a subscription can be made in Stripe's
dashboard. The account keeps the subscription billing applied first; any other
live one is cancelled at once, its payment refunded in full with reason
``duplicate``, and the pair recorded in ``duplicate_subscriptions``. All of it
runs under the account's row lock and with idempotency keys derived from the
duplicate's id, so repeated or reordered webhooks cancel and refund once. When
the duplicate's invoice is paid only after we cancelled it, its ``invoice.paid``
webhook brings us back here and the refund follows then.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.invoices import mirror
from tollgate.billing.models import Subscription
from tollgate.billing.stripe_api import StripeApi
from tollgate.billing.subscriptions import repository as subscriptions
from tollgate.billing.subscriptions.domain import ENDED, PAID_ACCESS

__all__ = ["is_duplicate", "settle"]

log = logging.getLogger("tollgate.billing.duplicates")


async def is_duplicate(session: AsyncSession, row: Subscription, live: dict[str, Any]) -> bool:
    """Whether Stripe's subscription ``live`` is a second one the (locked) account must not keep."""
    ours = row.stripe_subscription_id
    if ours is None or ours == live["id"] or row.status not in PAID_ACCESS:
        return False
    if str(live.get("status")) in PAID_ACCESS:
        return True
    # Already cancelled by us: still ours to settle (its payment may have come in since).
    return await subscriptions.duplicate(session, str(live["id"])) is not None


async def settle(
    session: AsyncSession, stripe: StripeApi, row: Subscription, live: dict[str, Any]
) -> None:
    sub_id = str(live["id"])
    assert row.stripe_subscription_id is not None
    record = await subscriptions.record_duplicate(
        session, sub_id, row.account_id, row.stripe_subscription_id
    )
    if str(live.get("status")) not in ENDED:
        log.warning(
            "account %s already pays through %s; cancelling and refunding %s",
            row.account_id,
            row.stripe_subscription_id,
            sub_id,
        )
        await stripe.cancel_subscription(sub_id)
    if record.refund_id is not None:
        return
    invoice_id = mirror.object_id(live.get("latest_invoice"))
    if not invoice_id:
        return
    await mirror.mirror_invoice(session, stripe, invoice_id)
    invoice = await stripe.get_invoice(invoice_id)
    charge_id = mirror.object_id(invoice.get("charge"))
    if not charge_id:
        return  # not paid yet: invoice.paid brings us back
    charge = await stripe.get_charge(charge_id)
    amount = int(charge.get("amount") or 0) - int(charge.get("amount_refunded") or 0)
    if amount > 0:
        refund = await stripe.create_refund(
            charge_id=charge_id,
            amount=amount,
            reason="duplicate",
            idempotency_key=f"tollgate-duplicate-{sub_id}",
        )
        record.refund_id = str(refund["id"])
        record.refunded_amount = amount
        record.currency = str(charge.get("currency") or "usd")
    await mirror.mirror_charge(session, stripe, charge_id, account=row.account_id)
    await session.flush()
