"""Promotion codes and redemptions: every statement of the feature."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.usage.models import PromotionCode, PromotionRedemption

__all__ = [
    "count_redemption",
    "deactivate",
    "insert_code",
    "insert_redemption",
    "list_codes",
    "lock_code",
    "redeemed_by",
]


async def insert_code(session: AsyncSession, values: dict[str, Any]) -> PromotionCode | None:
    """The new code; None if its text is taken."""
    code_id = await session.scalar(
        insert(PromotionCode)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["code"])
        .returning(PromotionCode.id)
    )
    return None if code_id is None else await session.get(PromotionCode, code_id)


async def list_codes(session: AsyncSession, limit: int) -> list[PromotionCode]:
    result = await session.execute(
        select(PromotionCode).order_by(PromotionCode.created_at.desc()).limit(limit)
    )
    return list(result.scalars())


async def lock_code(session: AsyncSession, code: str) -> PromotionCode | None:
    """The code's row, locked: redemptions of one code are taken one after another."""
    result = await session.execute(
        select(PromotionCode)
        .where(PromotionCode.code == code)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def deactivate(
    session: AsyncSession, code_id: uuid.UUID, now: datetime
) -> PromotionCode | None:
    """Withdraw the code (once: a second call keeps the first time)."""
    await session.execute(
        update(PromotionCode)
        .where(PromotionCode.id == code_id, PromotionCode.active)
        .values(active=False, deactivated_at=now)
    )
    result = await session.execute(
        select(PromotionCode)
        .where(PromotionCode.id == code_id)
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def redeemed_by(session: AsyncSession, code_id: uuid.UUID, account_id: uuid.UUID) -> bool:
    found = await session.get(PromotionRedemption, (code_id, account_id))
    return found is not None


async def insert_redemption(
    session: AsyncSession,
    *,
    code_id: uuid.UUID,
    account_id: uuid.UUID,
    user_id: uuid.UUID,
    grant_id: uuid.UUID,
    now: datetime,
) -> None:
    await session.execute(
        insert(PromotionRedemption).values(
            code_id=code_id,
            account_id=account_id,
            user_id=user_id,
            grant_id=grant_id,
            redeemed_at=now,
        )
    )


async def count_redemption(session: AsyncSession, code_id: uuid.UUID) -> None:
    # The CHECK constraint refuses a count past max_redemptions, whatever the caller checked.
    await session.execute(
        update(PromotionCode)
        .where(PromotionCode.id == code_id)
        .values(redemptions=PromotionCode.redemptions + 1)
    )
