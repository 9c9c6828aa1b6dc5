"""SQL of imports: ledger entries and grants of balances that moved in.

Past usage rows are written by the ledger store, the one way usage rows go in."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.usage.models import Grant, LedgerEntry


async def entry_exists(session: AsyncSession, request_id: str) -> bool:
    found = await session.scalar(
        select(LedgerEntry.id).where(LedgerEntry.request_id == request_id).limit(1)
    )
    return found is not None


async def grant_exists(session: AsyncSession, grant_id: uuid.UUID) -> bool:
    return await session.get(Grant, grant_id) is not None


async def grant(session: AsyncSession, grant_id: uuid.UUID) -> Grant:
    """A grant known to exist (and already locked by whoever found it)."""
    found = await session.get(Grant, grant_id)
    assert found is not None
    return found


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
