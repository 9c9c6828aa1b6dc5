"""SQL of the request log."""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.llm_proxy.models import RequestLog

__all__ = ["RequestLogRepository"]


class RequestLogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_many(self, rows: list[dict[str, Any]]) -> set[str]:
        """Insert calls; returns the request ids that were not logged before."""
        table = cast(Table, RequestLog.__table__)
        # Core, not ORM, insert: this runs for every proxied call.
        # Executed as "many" so the statement compiles once, whatever the batch size.
        inserted = await self.session.execute(
            insert(table)
            .on_conflict_do_nothing(index_elements=[table.c.request_id])
            .returning(table.c.request_id),
            rows,
        )
        return {row[0] for row in inserted}

    async def get(self, request_id: str) -> RequestLog | None:
        return await self.session.get(RequestLog, request_id)

    async def for_user(self, user_id: uuid.UUID) -> list[RequestLog]:
        rows = await self.session.scalars(
            select(RequestLog).where(RequestLog.user_id == user_id).order_by(RequestLog.started_at)
        )
        return list(rows)

    async def erase_user(self, user_id: uuid.UUID) -> int:
        result = await self.session.execute(delete(RequestLog).where(RequestLog.user_id == user_id))
        return int(getattr(result, "rowcount", 0) or 0)
