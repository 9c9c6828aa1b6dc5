"""SQL of imports: past usage rows go in once, keyed by their source."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.usage.models import Grant, LedgerEntry, UsageRecord


async def insert_usage(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Insert usage rows (request_id order: one lock order); the request ids that went in."""
    ordered = sorted(rows, key=lambda r: str(r["request_id"]))
    result = await session.scalars(
        insert(UsageRecord)
        .values(ordered)
        .on_conflict_do_nothing(index_elements=["request_id"])
        .returning(UsageRecord.request_id)
    )
    return set(result)


async def entry_exists(session: AsyncSession, request_id: str) -> bool:
    found = await session.scalar(
        select(LedgerEntry.id).where(LedgerEntry.request_id == request_id).limit(1)
    )
    return found is not None


async def grant_exists(session: AsyncSession, grant_id: uuid.UUID) -> bool:
    return await session.get(Grant, grant_id) is not None


async def spend(
    session: AsyncSession, grant: Grant, amount: int, request_id: str, occurred_at: Any
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
