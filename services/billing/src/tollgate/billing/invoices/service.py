"""Listing invoices and payments, refunding payments, and the revenue figures admins see."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.invoices import mirror, repository
from tollgate.billing.invoices.schemas import (
    InvoiceOut,
    MonthRevenue,
    Page,
    PaymentOut,
    PlanCount,
    RefundOut,
    RefundRequest,
    RevenueOut,
)
from tollgate.billing.models import Refund
from tollgate.billing.stripe_api import StripeApi
from tollgate.billing.subscriptions.sync import now_utc
from tollgate.billing.topups import purchases
from tollgate.shared.errors import BadRequest, Conflict, NotFound


async def invoices(
    session: AsyncSession, account_id: uuid.UUID, limit: int, offset: int
) -> Page[InvoiceOut]:
    rows, total = await repository.page_invoices(session, account_id, limit, offset)
    items = [InvoiceOut.model_validate(r) for r in rows]
    return Page[InvoiceOut](items=items, total=total, limit=limit, offset=offset)


async def payments(
    session: AsyncSession, account_id: uuid.UUID, limit: int, offset: int
) -> Page[PaymentOut]:
    rows, total = await repository.page_payments(session, account_id, limit, offset)
    items = [PaymentOut.model_validate(r) for r in rows]
    return Page[PaymentOut](items=items, total=total, limit=limit, offset=offset)


def full_refund_key(payment_id: str) -> str:
    """Refunding "everything left" twice is one refund: the second finds the first."""
    return "refund-full-" + hashlib.sha256(payment_id.encode()).hexdigest()[:32]


async def refund(
    session: AsyncSession,
    stripe: StripeApi,
    payment_id: str,
    request: RefundRequest,
    admin: uuid.UUID,
    idempotency_key: str | None,
) -> tuple[RefundOut, bool]:
    """Refund all or part of a payment once per idempotency key; True when newly made."""
    if idempotency_key:
        earlier = await repository.get_refund(session, idempotency_key)
        if earlier is not None:
            if earlier.payment_id != payment_id:
                raise Conflict("This Idempotency-Key was used for another payment")
            return RefundOut.model_validate(earlier), False
    payment = await repository.lock_payment(session, payment_id)
    if payment is None:
        raise NotFound(f"There is no payment {payment_id}")
    if idempotency_key:
        # Another request with this key may have committed while we waited for the lock.
        earlier = await repository.get_refund(session, idempotency_key)
        if earlier is not None:
            return RefundOut.model_validate(earlier), False
    if idempotency_key is None and request.amount is None:
        earlier = await repository.get_refund(session, full_refund_key(payment_id))
        if earlier is not None:
            return RefundOut.model_validate(earlier), False
    if payment.status not in ("succeeded", "partially_refunded"):
        raise Conflict(f"A {payment.status} payment cannot be refunded", type_slug="not-refundable")
    refundable = payment.amount - payment.amount_refunded
    amount = request.amount if request.amount is not None else refundable
    if amount > refundable:
        raise BadRequest(
            f"At most {refundable} can still be refunded", type_slug="refund-too-large"
        )
    if idempotency_key is None and request.amount is not None:
        # Two clicks on "refund 5 dollars" must not refund 10: partial refunds need a key.
        raise BadRequest(
            "A partial refund needs an Idempotency-Key header",
            type_slug="idempotency-key-required",
        )
    key = idempotency_key or full_refund_key(payment_id)
    earlier = await repository.get_refund(session, key)
    if earlier is not None:
        return RefundOut.model_validate(earlier), False
    made = await stripe.create_refund(
        charge_id=payment_id, amount=amount, reason=request.reason, idempotency_key=key
    )
    row = Refund(
        idempotency_key=key,
        id=str(made["id"]),
        payment_id=payment_id,
        amount=int(made.get("amount") or amount),
        currency=payment.currency,
        status=str(made.get("status") or "pending"),
        reason=request.reason,
        requested_by=admin,
        created_at=now_utc(),
    )
    await repository.add_refund(session, row)
    # The charge.refunded webhook will say the same; reading the charge now shows it at once.
    await mirror.mirror_charge(session, stripe, payment_id, account=payment.account_id)
    # A credit pack's payment: its credits go back with the money.
    await purchases.on_charge_refunded(session, payment_id, row.id)
    return RefundOut.model_validate(row), True


MONTHS_PER_INTERVAL = {"month": Decimal(1), "year": Decimal(12), "week": Decimal(12) / 52}


def _monthly(row: Any) -> Decimal:
    """What one seat of a subscription brings in a month: a yearly subscriber pays the
    plan's yearly price, a twelfth of it a month, not the monthly price."""
    if row.billing_interval == "year" and row.yearly_price is not None:
        return Decimal(row.yearly_price) / MONTHS_PER_INTERVAL["year"]
    return Decimal(row.price) / MONTHS_PER_INTERVAL.get(row.interval, Decimal(1))


async def revenue(session: AsyncSession, months: int) -> RevenueOut:
    counts = await repository.subscriptions_per_plan(session)
    mrr = Decimal(0)
    paying = 0
    currency = "usd"
    plan_counts: dict[tuple[str, str], PlanCount] = {}
    for row in counts:
        key = (row.plan, "stripe" if row.billed else "tollgate")
        # Monthly and yearly subscribers of a plan are one line of the count.
        seen = plan_counts.get(key) or PlanCount(
            plan=key[0], billed_by=key[1], subscriptions=0, seats=0
        )
        plan_counts[key] = PlanCount(
            plan=key[0],
            billed_by=key[1],
            subscriptions=seen.subscriptions + int(row.count),
            seats=seen.seats + int(row.seats or 0),
        )
        if row.billed:
            paying += int(row.count)
            currency = row.currency
            mrr += _monthly(row) * int(row.seats or 0)
    since = (now_utc() - timedelta(days=31 * months)).replace(day=1, hour=0, minute=0, second=0)
    by_month = [
        MonthRevenue(
            month=r.month.strftime("%Y-%m"),
            currency=r.currency,
            gross=int(r.gross or 0),
            refunded=int(r.refunded or 0),
            net=int(r.gross or 0) - int(r.refunded or 0),
        )
        for r in await repository.monthly_revenue(session, since)
    ]
    mrr = mrr.quantize(Decimal("0.01"))
    return RevenueOut(
        currency=currency,
        mrr=mrr,
        arr=mrr * 12,
        paying_subscriptions=paying,
        active_subscriptions=sorted(plan_counts.values(), key=lambda c: (c.plan, c.billed_by)),
        revenue_by_month=by_month,
    )
