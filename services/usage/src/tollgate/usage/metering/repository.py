"""What metering keeps besides the ledger: which balance alerts were sent."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.usage.models import AlertSent

__all__ = ["mark_alert_sent"]


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
