"""Copying Stripe's invoices and charges into our tables, always from a fresh read."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.invoices import repository
from tollgate.billing.stripe_api import StripeApi
from tollgate.billing.subscriptions import repository as subscriptions
from tollgate.billing.subscriptions.domain import parse_uuid, utc

log = logging.getLogger("tollgate.billing.invoices")


def object_id(value: Any) -> str | None:
    """The id of an expanded object or of a bare reference; None if absent."""
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None


def invoice_subscription(invoice: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The invoice's subscription id and its metadata, wherever this API version puts them."""
    details = ((invoice.get("parent") or {}).get("subscription_details")) or {}
    sub_id = object_id(invoice.get("subscription")) or object_id(details.get("subscription"))
    metadata = details.get("metadata") or (invoice.get("subscription_details") or {}).get(
        "metadata"
    )
    return sub_id, dict(metadata or {})


def discount_of(invoice: dict[str, Any]) -> tuple[int, str | None]:
    """What discounts took off the invoice, and the promotion code the person entered."""
    amount = sum(int(d.get("amount") or 0) for d in invoice.get("total_discount_amounts") or [])
    for discount in invoice.get("discounts") or []:
        promotion = discount.get("promotion_code") if isinstance(discount, dict) else None
        if isinstance(promotion, dict) and promotion.get("code"):
            return amount, str(promotion["code"])
    return amount, None


async def _account(
    session: AsyncSession, customer_id: str | None, sub_id: str | None, meta: dict[str, Any]
) -> uuid.UUID | None:
    if sub_id:
        row = await subscriptions.by_stripe_id(session, sub_id)
        if row is not None:
            return uuid.UUID(str(row.account_id))
    account = parse_uuid(meta.get("tollgate_account_id"))
    if account is not None:
        return uuid.UUID(str(account))
    if customer_id:
        customer = await subscriptions.customer_by_stripe_id(session, customer_id)
        if customer is not None:
            return uuid.UUID(str(customer.user_id))
    return None


async def mirror_invoice(session: AsyncSession, stripe: StripeApi, invoice_id: str) -> str | None:
    """Refetch and store an invoice, and the charge that paid it; returns its subscription id."""
    invoice = await stripe.get_invoice(invoice_id)
    sub_id, meta = invoice_subscription(invoice)
    account = await _account(session, object_id(invoice.get("customer")), sub_id, meta)
    if account is None:
        log.warning("invoice %s belongs to no account we know; not mirrored", invoice_id)
        return sub_id
    transitions = invoice.get("status_transitions") or {}
    discount, promotion_code = discount_of(invoice)
    subtotal = invoice.get("subtotal")
    await repository.upsert_invoice(
        session,
        {
            "id": str(invoice["id"]),
            "account_id": account,
            "stripe_subscription_id": sub_id,
            "number": invoice.get("number"),
            "status": str(invoice.get("status") or "draft"),
            "currency": str(invoice.get("currency") or "usd"),
            "subtotal": int(subtotal) if subtotal is not None else None,
            "discount": discount,
            "promotion_code": promotion_code,
            "amount_due": int(invoice.get("amount_due") or 0),
            "amount_paid": int(invoice.get("amount_paid") or 0),
            "hosted_invoice_url": invoice.get("hosted_invoice_url"),
            "period_start": utc(invoice.get("period_start")),
            "period_end": utc(invoice.get("period_end")),
            "created": utc(int(invoice.get("created") or 0)),
            "paid_at": utc(transitions.get("paid_at")),
        },
    )
    charge_id = object_id(invoice.get("charge"))
    if charge_id:
        await mirror_charge(session, stripe, charge_id, account=account)
    return sub_id


def payment_status(charge: dict[str, Any]) -> str:
    amount, refunded = int(charge.get("amount") or 0), int(charge.get("amount_refunded") or 0)
    if refunded and refunded >= amount:
        return "refunded"
    if refunded:
        return "partially_refunded"
    return str(charge.get("status") or "pending")


async def mirror_charge(
    session: AsyncSession, stripe: StripeApi, charge_id: str, *, account: uuid.UUID | None = None
) -> None:
    charge = await stripe.get_charge(charge_id)
    invoice_id = object_id(charge.get("invoice"))
    if account is None:
        # A charge belongs to one account for good (an organization's pack stays the
        # organization's, though its payer's customer is a person's).
        known = await repository.get_payment(session, charge_id)
        account = known.account_id if known is not None else None
    if account is None and invoice_id:
        invoice = await repository.get_invoice(session, invoice_id)
        account = invoice.account_id if invoice else None
    if account is None:
        account = await _account(session, object_id(charge.get("customer")), None, {})
    if account is None:
        log.warning("charge %s belongs to no account we know; not mirrored", charge_id)
        return
    await repository.upsert_payment(
        session,
        {
            "id": str(charge["id"]),
            "account_id": account,
            "invoice_id": invoice_id,
            "status": payment_status(charge),
            "currency": str(charge.get("currency") or "usd"),
            "amount": int(charge.get("amount") or 0),
            "amount_refunded": int(charge.get("amount_refunded") or 0),
            "created": utc(int(charge.get("created") or 0)),
        },
    )
