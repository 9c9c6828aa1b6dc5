"""SQL of imports: history rows go in once, keyed by their source."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.models import Invoice, Payment


async def insert_invoice(session: AsyncSession, values: dict[str, Any]) -> bool:
    created = await session.scalar(
        insert(Invoice).values(**values).on_conflict_do_nothing().returning(Invoice.id)
    )
    return created is not None


async def insert_payment(session: AsyncSession, values: dict[str, Any]) -> bool:
    created = await session.scalar(
        insert(Payment).values(**values).on_conflict_do_nothing().returning(Payment.id)
    )
    return created is not None
