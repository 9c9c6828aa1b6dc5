"""Usage records and their daily rollup."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.usage.models import AlertSent, DailyUsage, UsageRecord

__all__ = ["add_rollup_rows", "add_to_rollup", "claim_request", "mark_alert_sent", "set_charge"]


async def claim_request(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Insert the usage record; None when this request_id was already recorded.

    A concurrent duplicate waits here on the unique index until the first
    transaction ends, then finds the row and does nothing.
    """
    record_id: int | None = await session.scalar(
        insert(UsageRecord)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["request_id"])
        .returning(UsageRecord.id)
    )
    return record_id


async def set_charge(
    session: AsyncSession, record_id: int, account_id: uuid.UUID, charged: int, uncharged: int
) -> None:
    await session.execute(
        update(UsageRecord)
        .where(UsageRecord.id == record_id)
        .values(account_id=account_id, charged_tokens=charged, uncharged_tokens=uncharged)
    )


async def add_to_rollup(session: AsyncSession, row: dict[str, Any]) -> None:
    await add_rollup_rows(session, [{"requests": 1, **row}])


async def add_rollup_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Add to the rollup; rows must have distinct keys, and come sorted by key (lock order)."""
    if not rows:
        return
    stmt = insert(DailyUsage).values(rows)
    excluded = stmt.excluded
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["day", "account_id", "user_id", "model", "provider", "feature"],
            set_={
                "requests": DailyUsage.requests + excluded.requests,
                "prompt_tokens": DailyUsage.prompt_tokens + excluded.prompt_tokens,
                "completion_tokens": DailyUsage.completion_tokens + excluded.completion_tokens,
                "total_tokens": DailyUsage.total_tokens + excluded.total_tokens,
                "charged_tokens": DailyUsage.charged_tokens + excluded.charged_tokens,
                "cost_usd": DailyUsage.cost_usd + excluded.cost_usd,
            },
        )
    )


async def mark_alert_sent(
    session: AsyncSession, account_id: uuid.UUID, period_start: datetime, threshold: int
) -> bool:
    """True the first time this threshold is reached in this period."""
    first = await session.scalar(
        insert(AlertSent)
        .values(account_id=account_id, period_start=period_start, threshold=threshold)
        .on_conflict_do_nothing()
        .returning(AlertSent.account_id)
    )
    return first is not None
