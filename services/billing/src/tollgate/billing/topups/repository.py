"""SQL for credit packs, purchases and auto top-up settings."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.models import AutoTopUp, CreditPack, Purchase


async def get_pack(session: AsyncSession, code: str) -> CreditPack | None:
    return await session.get(CreditPack, code)


async def list_packs(session: AsyncSession, *, only_active: bool) -> list[CreditPack]:
    query = select(CreditPack).order_by(CreditPack.price_cents, CreditPack.code)
    if only_active:
        query = query.where(CreditPack.active.is_(True))
    return list(await session.scalars(query))


async def insert_pack(session: AsyncSession, values: dict[str, Any]) -> bool:
    """False if a pack with that code exists already."""
    code = await session.scalar(
        insert(CreditPack).values(**values).on_conflict_do_nothing().returning(CreditPack.code)
    )
    return code is not None


async def lock_purchase(session: AsyncSession, purchase_id: uuid.UUID) -> Purchase | None:
    result: Purchase | None = await session.scalar(
        select(Purchase)
        .where(Purchase.id == purchase_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result


async def latest_purchase(
    session: AsyncSession, account_id: uuid.UUID, pack_code: str
) -> Purchase | None:
    """The account's newest purchase of the pack through Checkout (any status)."""
    result: Purchase | None = await session.scalar(
        select(Purchase)
        .where(
            Purchase.account_id == account_id,
            Purchase.pack_code == pack_code,
            Purchase.kind == "checkout",
        )
        .order_by(Purchase.created_at.desc(), Purchase.id)
        .limit(1)
    )
    return result


async def pending_auto(session: AsyncSession, account_id: uuid.UUID) -> Purchase | None:
    result: Purchase | None = await session.scalar(
        select(Purchase)
        .where(
            Purchase.account_id == account_id,
            Purchase.kind == "auto",
            Purchase.status == "pending",
        )
        .limit(1)
    )
    return result


async def by_charge(session: AsyncSession, charge_id: str) -> Purchase | None:
    result: Purchase | None = await session.scalar(
        select(Purchase).where(Purchase.charge_id == charge_id).with_for_update()
    )
    return result


async def by_crossing(session: AsyncSession, crossing_id: uuid.UUID) -> Purchase | None:
    result: Purchase | None = await session.scalar(
        select(Purchase).where(Purchase.crossing_id == crossing_id)
    )
    return result


async def page_purchases(
    session: AsyncSession, account_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[Purchase], int]:
    where = Purchase.account_id == account_id
    rows = await session.scalars(
        select(Purchase)
        .where(where)
        .order_by(Purchase.created_at.desc(), Purchase.id)
        .limit(limit)
        .offset(offset)
    )
    total = await session.scalar(select(func.count()).select_from(Purchase).where(where))
    return list(rows), int(total or 0)


async def get_auto(session: AsyncSession, account_id: uuid.UUID) -> AutoTopUp | None:
    return await session.get(AutoTopUp, account_id)


async def lock_auto(session: AsyncSession, account_id: uuid.UUID) -> AutoTopUp | None:
    result: AutoTopUp | None = await session.scalar(
        select(AutoTopUp)
        .where(AutoTopUp.account_id == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result
