"""Queries over usage records and the daily rollup."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.usage.models import UsageRecord


async def charged_between(
    session: AsyncSession, account_id: uuid.UUID, start: datetime, end: datetime
) -> int:
    """Tokens charged for calls that started in [start, end); a late event counts where it began."""
    total = await session.scalar(
        select(func.coalesce(func.sum(UsageRecord.charged_tokens), 0)).where(
            UsageRecord.account_id == account_id,
            UsageRecord.started_at >= start,
            UsageRecord.started_at < end,
        )
    )
    return int(total or 0)
