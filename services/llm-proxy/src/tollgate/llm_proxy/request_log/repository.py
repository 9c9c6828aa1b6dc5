"""SQL of the request log, and of the outbox rows written beside it.

The batch statements take whole columns as arrays (``unnest``), so their text is
the same whatever the batch size: SQLAlchemy compiles each once and asyncpg
prepares each once per connection, instead of once per batch shape.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.llm_proxy.models import RequestLog

__all__ = ["LOG_COLUMNS", "OutboxRow", "RequestLogRepository"]

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

_ADD_CALLS = text(
    f"""
    INSERT INTO request_log ({", ".join(name for name, _ in LOG_COLUMNS)})
    SELECT * FROM unnest({", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in LOG_COLUMNS)})
    ON CONFLICT (request_id) DO NOTHING
    RETURNING request_id
    """  # noqa: S608 - the names are the constants above, never input
)

_ADD_EVENTS = text(
    """
    INSERT INTO outbox (event_id, event_type, body, headers)
    SELECT e, t, b, CAST(h AS jsonb) FROM unnest(
        CAST(:event_id AS uuid[]), CAST(:event_type AS varchar[]),
        CAST(:body AS text[]), CAST(:headers AS text[])
    ) AS v(e, t, b, h)
    """
)

# event_id, event_type, body (the envelope's JSON), headers (JSON of the AMQP headers)
OutboxRow = tuple[uuid.UUID, str, str, str]


class RequestLogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_many(self, rows: list[tuple[Any, ...]]) -> set[str]:
        """Insert calls (values in ``LOG_COLUMNS`` order); returns the ids not logged before."""
        columns = {name: [row[i] for row in rows] for i, (name, _) in enumerate(LOG_COLUMNS)}
        inserted = await self.session.execute(_ADD_CALLS, columns)
        return {row[0] for row in inserted}

    async def add_events(self, rows: list[OutboxRow]) -> None:
        """Outbox rows in the caller's transaction: published only if it commits."""
        if not rows:
            return
        await self.session.execute(
            _ADD_EVENTS,
            {
                "event_id": [r[0] for r in rows],
                "event_type": [r[1] for r in rows],
                "body": [r[2] for r in rows],
                "headers": [r[3] for r in rows],
            },
        )

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
