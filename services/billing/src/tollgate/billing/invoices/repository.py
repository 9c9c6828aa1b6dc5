"""SQL for invoices, payments and refunds."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.models import Invoice, Payment, Plan, Refund, Subscription


async def upsert_invoice(session: AsyncSession, values: dict[str, Any]) -> None:
    stmt = insert(Invoice).values(**values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Invoice.id],
            set_={k: stmt.excluded[k] for k in values if k != "id"},
        )
    )


async def upsert_payment(session: AsyncSession, values: dict[str, Any]) -> None:
    stmt = insert(Payment).values(**values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Payment.id],
            set_={k: stmt.excluded[k] for k in values if k != "id"},
        )
    )


async def get_invoice(session: AsyncSession, invoice_id: str) -> Invoice | None:
    return await session.get(Invoice, invoice_id)


async def lock_payment(session: AsyncSession, payment_id: str) -> Payment | None:
    result: Payment | None = await session.scalar(
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result


async def get_payment(session: AsyncSession, payment_id: str) -> Payment | None:
    return await session.get(Payment, payment_id)


async def page_invoices(
    session: AsyncSession, account_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[Invoice], int]:
    where = Invoice.account_id == account_id
    total = await session.scalar(select(func.count()).select_from(Invoice).where(where))
    rows = await session.scalars(
        select(Invoice)
        .where(where)
        .order_by(Invoice.created.desc(), Invoice.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)


async def page_payments(
    session: AsyncSession, account_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[Payment], int]:
    where = Payment.account_id == account_id
    total = await session.scalar(select(func.count()).select_from(Payment).where(where))
    rows = await session.scalars(
        select(Payment)
        .where(where)
        .order_by(Payment.created.desc(), Payment.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)


async def get_refund(session: AsyncSession, idempotency_key: str) -> Refund | None:
    return await session.get(Refund, idempotency_key)


async def add_refund(session: AsyncSession, refund: Refund) -> None:
    session.add(refund)
    await session.flush()


async def monthly_revenue(session: AsyncSession, since: datetime) -> list[Any]:
    """Money kept per month and currency: paid charges less what was refunded."""
    month = func.date_trunc(text("'month'"), Payment.created).label("month")
    result = await session.execute(
        select(
            month,
            Payment.currency,
            func.sum(Payment.amount).label("gross"),
            func.sum(Payment.amount_refunded).label("refunded"),
        )
        .where(Payment.created >= since, Payment.status != "failed")
        .group_by(month, Payment.currency)
        .order_by(month)
    )
    return list(result.all())


async def subscriptions_per_plan(session: AsyncSession) -> list[Any]:
    """Subscriptions giving access, per plan and billing source, with the seats they pay for."""
    billed = Subscription.stripe_subscription_id.is_not(None).label("billed")
    result = await session.execute(
        select(
            Subscription.plan,
            billed,
            func.count().label("count"),
            func.sum(Subscription.seats).label("seats"),
            Subscription.billing_interval,
            Plan.price,
            Plan.yearly_price,
            Plan.currency,
            Plan.interval,
        )
        .join(Plan, Plan.code == Subscription.plan)
        .where(Subscription.status.in_(["active", "trialing", "past_due"]))
        .group_by(
            Subscription.plan,
            billed,
            Subscription.billing_interval,
            Plan.price,
            Plan.yearly_price,
            Plan.currency,
            Plan.interval,
        )
    )
    return list(result.all())
