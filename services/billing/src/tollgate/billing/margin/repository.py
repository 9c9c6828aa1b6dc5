"""Revenue per plan: what billing received in a date range."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.models import Payment, Subscription


async def revenue_per_plan(
    session: AsyncSession, start: date, end: date, currency: str
) -> list[Any]:
    """Payments in [start, end] (UTC days) in ``currency``, less refunds, per the paying
    account's plan (``free`` for an account without a subscription)."""
    since = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    plan = func.coalesce(Subscription.plan, "free").label("plan")
    result = await session.execute(
        select(plan, func.sum(Payment.amount - Payment.amount_refunded).label("cents"))
        .select_from(Payment)
        .outerjoin(Subscription, Subscription.account_id == Payment.account_id)
        .where(
            Payment.created >= since,
            Payment.created < until,
            Payment.status != "failed",
            func.lower(Payment.currency) == currency,
        )
        .group_by(plan)
    )
    return list(result.all())
