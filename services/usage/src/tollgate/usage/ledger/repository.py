"""Accounts, grants and holds one at a time: admin grants, releases, plan allocation.

What reservations and settlements read and write, a group at a time, is in
``store``; this module keeps the single-row operations of the other routes and
consumers, through the ORM where an object is what the caller needs.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnClause, String, and_, literal_column, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.usage.ledger.store import Db
from tollgate.usage.models import Account, Grant, Hold, LedgerEntry, Member

# Written as SQL literals, not parameters: PostgreSQL can then match them to the
# partial indexes (WHERE status = 'held') even in generic prepared-statement plans.
HELD: ColumnClause[str] = literal_column("'held'", String())

__all__ = [
    "HELD",
    "GrantPeriod",
    "create_account",
    "end_plan_grants",
    "enlarge_grant",
    "expire_holds",
    "insert_grant",
    "list_grants",
    "lock_account",
    "lock_hold",
    "member",
    "overlapping_plan_grant",
    "settle_hold",
]


async def lock_account(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    """The account row, locked until the transaction ends: every balance change passes here."""
    result = await session.execute(
        select(Account)
        .where(Account.id == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def create_account(
    session: AsyncSession,
    account_id: uuid.UUID,
    *,
    kind: str,
    plan: str,
    monthly_tokens: int,
    period_start: datetime,
    period_end: datetime,
) -> None:
    """Insert the account unless it exists (two first events may race to create it)."""
    await session.execute(
        insert(Account)
        .values(
            id=account_id,
            kind=kind,
            plan=plan,
            monthly_tokens=monthly_tokens,
            period_start=period_start,
            period_end=period_end,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )


async def list_grants(session: AsyncSession, account_id: uuid.UUID, now: datetime) -> list[Grant]:
    result = await session.execute(
        select(Grant)
        .where(
            Grant.account_id == account_id,
            or_(Grant.expires_at.is_(None), Grant.expires_at > now),
        )
        .order_by(Grant.expires_at.asc().nulls_last(), Grant.priority.desc())
    )
    return list(result.scalars())


async def member(session: AsyncSession, account_id: uuid.UUID, user_id: uuid.UUID) -> Member | None:
    return await session.get(Member, (account_id, user_id))


async def lock_hold(session: AsyncSession, hold_id: uuid.UUID) -> Hold | None:
    result = await session.execute(
        select(Hold)
        .where(Hold.id == hold_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def settle_hold(
    session: AsyncSession,
    hold_id: uuid.UUID,
    status: str,
    now: datetime,
    committed_tokens: int | None = None,
) -> None:
    await session.execute(
        update(Hold)
        .where(Hold.id == hold_id)
        .values(status=status, settled_at=now, committed_tokens=committed_tokens)
    )


async def expire_holds(session: AsyncSession, now: datetime, limit: int) -> int:
    """Mark holds past their TTL expired; their tokens already stopped counting."""
    due = (
        select(Hold.id)
        .where(Hold.status == HELD, Hold.expires_at <= now)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = await session.execute(
        update(Hold)
        .where(Hold.id.in_(due))
        .values(status="expired", settled_at=now)
        .returning(Hold.id)
    )
    return len(result.all())


class GrantPeriod(NamedTuple):
    id: uuid.UUID
    account_id: uuid.UUID
    amount: int
    expires_at: datetime | None


async def overlapping_plan_grant(
    db: Db, account_id: uuid.UUID, start: datetime, end: datetime
) -> GrantPeriod | None:
    """A plan grant whose period overlaps [start, end), locked."""
    result = await db.execute(
        select(Grant.id, Grant.account_id, Grant.amount, Grant.expires_at)
        .where(
            Grant.account_id == account_id,
            Grant.source == "plan",
            and_(Grant.starts_at < end, or_(Grant.expires_at.is_(None), Grant.expires_at > start)),
        )
        .order_by(Grant.starts_at.desc())
        .limit(1)
        .with_for_update()
    )
    row = result.one_or_none()
    return GrantPeriod(*row) if row is not None else None


async def end_plan_grants(db: Db, account_id: uuid.UUID, at: datetime) -> None:
    """Make the account's plan grants that began before ``at`` expire at ``at`` at the latest."""
    await db.execute(
        update(Grant)
        .where(
            Grant.account_id == account_id,
            Grant.source == "plan",
            Grant.starts_at < at,
            or_(Grant.expires_at.is_(None), Grant.expires_at > at),
        )
        .values(expires_at=at)
    )


async def insert_grant(db: Db, values: dict[str, Any], occurred_at: datetime) -> uuid.UUID | None:
    """Insert a grant and its credit entry; None if that plan period was already granted."""
    grant_id: uuid.UUID | None = await db.scalar(
        insert(Grant)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=["account_id", "period_start"],
            index_where=text("source = 'plan'"),
        )
        .returning(Grant.id)
    )
    if grant_id is not None:
        await db.execute(
            insert(LedgerEntry).values(
                account_id=values["account_id"],
                grant_id=grant_id,
                kind="grant",
                amount=values["amount"],
                occurred_at=occurred_at,
            )
        )
    return grant_id


async def enlarge_grant(
    db: Db,
    grant: GrantPeriod,
    amount: int,
    expires_at: datetime | None,
    occurred_at: datetime,
) -> None:
    """Raise a grant to ``amount`` and/or extend it; an increase is its own credit entry."""
    increase = amount - grant.amount
    await db.execute(
        update(Grant).where(Grant.id == grant.id).values(amount=amount, expires_at=expires_at)
    )
    if increase > 0:
        await db.execute(
            insert(LedgerEntry).values(
                account_id=grant.account_id,
                grant_id=grant.id,
                kind="grant_increase",
                amount=increase,
                occurred_at=occurred_at,
            )
        )
