"""SQL for the plan catalog."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.models import Plan


async def seed(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert missing plans; an existing plan only gains a Stripe price id it lacked (and,
    with a yearly price id, the default yearly price if it has none)."""
    for row in rows:
        await session.execute(insert(Plan).values(**row).on_conflict_do_nothing())
        if row.get("stripe_price_id"):
            await session.execute(
                update(Plan)
                .where(Plan.code == row["code"], Plan.stripe_price_id.is_(None))
                .values(stripe_price_id=row["stripe_price_id"])
            )
        if row.get("stripe_yearly_price_id"):
            await session.execute(
                update(Plan)
                .where(Plan.code == row["code"], Plan.stripe_yearly_price_id.is_(None))
                .values(
                    stripe_yearly_price_id=row["stripe_yearly_price_id"],
                    yearly_price=func.coalesce(Plan.yearly_price, row.get("yearly_price")),
                )
            )


async def list_active(session: AsyncSession) -> list[Plan]:
    result = await session.scalars(select(Plan).where(Plan.active).order_by(Plan.price))
    return list(result)


async def get(session: AsyncSession, code: str) -> Plan | None:
    return await session.get(Plan, code)


async def all_by_code(session: AsyncSession) -> dict[str, Plan]:
    return {p.code: p for p in await session.scalars(select(Plan))}


async def by_price_id(session: AsyncSession, price_id: str) -> Plan | None:
    """The plan whose monthly or yearly Stripe price this is."""
    result: Plan | None = await session.scalar(
        select(Plan).where(
            or_(Plan.stripe_price_id == price_id, Plan.stripe_yearly_price_id == price_id)
        )
    )
    return result
