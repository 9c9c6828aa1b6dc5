"""SQL of the request log.

The recorder's statement runs on a plain asyncpg connection and takes whole
columns as arrays (``unnest``), so its text is the same whatever the batch size:
asyncpg prepares each once per connection, and no ORM session, compile or
pre-ping runs per batch. The rest goes through SQLAlchemy as usual.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.llm_proxy.models import RequestLog
from tollgate.shared.messaging.outbox import OutboxRow, outbox_insert

__all__ = ["LOG_COLUMNS", "RequestLogRepository", "add_calls"]

# Column name and its PostgreSQL type, in the order of the values each call gives.
LOG_COLUMNS: tuple[tuple[str, str], ...] = (
    ("request_id", "varchar"),
    ("http_request_id", "varchar"),
    ("user_id", "uuid"),
    ("org_id", "uuid"),
    ("api_key_id", "uuid"),
    ("session_id", "uuid"),
    ("reservation_id", "uuid"),
    ("endpoint", "varchar"),
    ("model", "varchar"),
    ("provider", "varchar"),
    ("upstream_model", "varchar"),
    ("stream", "boolean"),
    ("prompt_tokens", "integer"),
    ("completion_tokens", "integer"),
    ("total_tokens", "integer"),
    ("usage_reported", "boolean"),
    ("cost_usd", "numeric"),
    ("status", "varchar"),
    ("error", "text"),
    ("attempts", "integer"),
    ("latency_ms", "integer"),
    ("ttft_ms", "integer"),
    ("started_at", "timestamptz"),
    ("prompt", "text"),
    ("completion", "text"),
)

_NAMES = ", ".join(name for name, _ in LOG_COLUMNS)
_ARRAYS = ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(LOG_COLUMNS, 1))
# The rows and their events in one statement: it commits by itself (one round trip,
# where BEGIN, two inserts and COMMIT took four), and only the calls not logged before
# (a retried batch) get an event.
_ADD_CALLS = f"""
    WITH logged AS (
        INSERT INTO request_log ({_NAMES})
        SELECT * FROM unnest({_ARRAYS})
        ON CONFLICT (request_id) DO NOTHING
        RETURNING request_id AS key
    )
    {outbox_insert(len(LOG_COLUMNS) + 1, only_keys_in="logged")}
"""  # noqa: S608 - the names are the constants above, never input


async def add_calls(
    connection: asyncpg.Connection, rows: list[tuple[Any, ...]], events: list[OutboxRow]
) -> None:
    """Insert calls (values in ``LOG_COLUMNS`` order) with their events (in the same
    order), in one statement; a call logged before is left as it was, event and all."""
    columns = [[row[i] for row in rows] for i in range(len(LOG_COLUMNS))]
    event_columns = [list(column) for column in zip(*events, strict=True)]
    keys = [row[0] for row in rows]  # request_id comes first in LOG_COLUMNS
    await connection.execute(_ADD_CALLS, *columns, *event_columns, keys)


class RequestLogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

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
