"""SQL of imports: past usage rows go in once, keyed by their source."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.usage.models import Grant, LedgerEntry

# Whole columns as arrays, as metering's batches write them: one statement, prepared
# once, whatever the batch size; RETURNING names exactly the rows that went in.
_PAST_USAGE = text(
    """
    INSERT INTO usage_records (
        request_id, account_id, user_id, model, provider, endpoint, feature, status,
        prompt_tokens, completion_tokens, total_tokens, charged_tokens, uncharged_tokens,
        cost_usd, started_at)
    SELECT * FROM unnest(
        CAST(:request_id AS varchar[]), CAST(:account_id AS uuid[]), CAST(:user_id AS uuid[]),
        CAST(:model AS varchar[]), CAST(:provider AS varchar[]), CAST(:endpoint AS varchar[]),
        CAST(:feature AS varchar[]), CAST(:status AS varchar[]), CAST(:prompt_tokens AS bigint[]),
        CAST(:completion_tokens AS bigint[]), CAST(:total_tokens AS bigint[]),
        CAST(:charged_tokens AS bigint[]), CAST(:uncharged_tokens AS bigint[]),
        CAST(:cost_usd AS numeric[]), CAST(:started_at AS timestamptz[])
    )
    ON CONFLICT (request_id) DO NOTHING
    RETURNING request_id
    """
)

_COLUMNS = (
    "request_id", "account_id", "user_id", "model", "provider", "endpoint", "feature", "status",
    "prompt_tokens", "completion_tokens", "total_tokens", "charged_tokens", "uncharged_tokens",
    "cost_usd", "started_at",
)  # fmt: skip


async def insert_usage(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Insert usage rows (request_id order: one lock order); the request ids that went in."""
    ordered = sorted(rows, key=lambda r: str(r["request_id"]))
    result = await session.execute(_PAST_USAGE, {c: [r[c] for r in ordered] for c in _COLUMNS})
    return {row[0] for row in result}


async def entry_exists(session: AsyncSession, request_id: str) -> bool:
    found = await session.scalar(
        select(LedgerEntry.id).where(LedgerEntry.request_id == request_id).limit(1)
    )
    return found is not None


async def grant_exists(session: AsyncSession, grant_id: uuid.UUID) -> bool:
    return await session.get(Grant, grant_id) is not None


async def spend(
    session: AsyncSession, grant: Grant, amount: int, request_id: str, occurred_at: datetime
) -> None:
    """What the account had used of the grant before it moved in: an entry and the projection."""
    grant.used += amount
    session.add(
        LedgerEntry(
            account_id=grant.account_id,
            grant_id=grant.id,
            request_id=request_id,
            kind="spent_before_import",
            amount=-amount,
            occurred_at=occurred_at,
        )
    )
    await session.flush()
