"""Every statement that reads or writes accounts, grants, holds and ledger entries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnClause,
    String,
    and_,
    func,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.usage.ledger.domain import GrantState
from tollgate.usage.models import Account, Grant, Hold, LedgerEntry, Member

# Written as SQL literals, not parameters: PostgreSQL can then match them to the
# partial indexes (WHERE status = 'held') even in generic prepared-statement plans.
HELD: ColumnClause[str] = literal_column("'held'", String())

__all__ = [
    "HELD",
    "active_hold_total",
    "apply_draws",
    "balance_totals",
    "balances",
    "create_account",
    "enlarge_grant",
    "expire_holds",
    "find_hold",
    "get_account",
    "grants_since",
    "holds_by_request",
    "insert_grant",
    "insert_hold",
    "insert_holds",
    "list_grants",
    "live_accounts",
    "lock_account",
    "lock_accounts",
    "lock_hold",
    "member",
    "member_spent",
    "members_of",
    "overlapping_plan_grant",
    "requests_since",
    "requests_since_by_member",
    "settle_hold",
    "sub_user_parent",
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


async def get_account(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    return await session.get(Account, account_id)


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


async def grants_since(
    session: AsyncSession, account_id: uuid.UUID, since: datetime, now: datetime
) -> list[GrantState]:
    """Grants that have started and had not expired at ``since`` (``since`` ≤ now)."""
    rows = await session.execute(
        select(
            Grant.id, Grant.amount, Grant.used, Grant.priority, Grant.starts_at, Grant.expires_at
        ).where(
            Grant.account_id == account_id,
            Grant.starts_at <= now,
            or_(Grant.expires_at.is_(None), Grant.expires_at > since),
        )
    )
    return [GrantState(*row) for row in rows.all()]


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


async def active_hold_total(
    session: AsyncSession,
    account_id: uuid.UUID,
    now: datetime,
    *,
    excluding: uuid.UUID | None = None,
) -> int:
    """Tokens set aside by open holds; a hold past its TTL no longer counts, swept or not."""
    conditions = [Hold.account_id == account_id, Hold.status == HELD, Hold.expires_at > now]
    if excluding is not None:
        conditions.append(Hold.id != excluding)
    total = await session.scalar(select(func.coalesce(func.sum(Hold.amount), 0)).where(*conditions))
    return int(total or 0)


async def balance_totals(
    session: AsyncSession, account_id: uuid.UUID, now: datetime
) -> tuple[int, int]:
    """What active grants still hold, and what open holds set aside, in one round trip."""
    remaining = (
        select(func.coalesce(func.sum(Grant.amount - Grant.used), 0))
        .where(
            Grant.account_id == account_id,
            Grant.starts_at <= now,
            or_(Grant.expires_at.is_(None), Grant.expires_at > now),
        )
        .scalar_subquery()
    )
    held = (
        select(func.coalesce(func.sum(Hold.amount), 0))
        .where(Hold.account_id == account_id, Hold.status == HELD, Hold.expires_at > now)
        .scalar_subquery()
    )
    row = (await session.execute(select(remaining, held))).one()
    return int(row[0]), int(row[1])


async def member(session: AsyncSession, account_id: uuid.UUID, user_id: uuid.UUID) -> Member | None:
    return await session.get(Member, (account_id, user_id))


async def member_spent(
    session: AsyncSession,
    account_id: uuid.UUID,
    user_id: uuid.UUID,
    period_start: datetime,
    now: datetime,
) -> int:
    """What one member has committed this period plus what their open holds set aside."""
    committed = await session.scalar(
        select(func.coalesce(func.sum(Hold.committed_tokens), 0)).where(
            Hold.account_id == account_id,
            Hold.user_id == user_id,
            Hold.created_at >= period_start,
            Hold.status == "committed",
        )
    )
    held = await session.scalar(
        select(func.coalesce(func.sum(Hold.amount), 0)).where(
            Hold.account_id == account_id,
            Hold.user_id == user_id,
            Hold.status == HELD,
            Hold.expires_at > now,
        )
    )
    return int(committed or 0) + int(held or 0)


async def requests_since(
    session: AsyncSession, account_id: uuid.UUID, user_id: uuid.UUID, since: datetime
) -> int:
    count = await session.scalar(
        select(func.count()).where(
            Hold.account_id == account_id, Hold.user_id == user_id, Hold.created_at >= since
        )
    )
    return int(count or 0)


async def find_hold(session: AsyncSession, request_id: str) -> Hold | None:
    result = await session.execute(select(Hold).where(Hold.request_id == request_id))
    return result.scalar_one_or_none()


async def lock_hold(session: AsyncSession, hold_id: uuid.UUID) -> Hold | None:
    result = await session.execute(
        select(Hold)
        .where(Hold.id == hold_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def insert_hold(session: AsyncSession, values: dict[str, Any]) -> uuid.UUID | None:
    """Insert a hold; None when its request_id already has one."""
    hold_id: uuid.UUID | None = await session.scalar(
        insert(Hold)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["request_id"])
        .returning(Hold.id)
    )
    return hold_id


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


async def overlapping_plan_grant(
    session: AsyncSession, account_id: uuid.UUID, start: datetime, end: datetime
) -> Grant | None:
    """A plan grant whose period overlaps [start, end), locked."""
    result = await session.execute(
        select(Grant)
        .where(
            Grant.account_id == account_id,
            Grant.source == "plan",
            and_(Grant.starts_at < end, or_(Grant.expires_at.is_(None), Grant.expires_at > start)),
        )
        .order_by(Grant.starts_at.desc())
        .limit(1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def insert_grant(
    session: AsyncSession, values: dict[str, Any], occurred_at: datetime
) -> uuid.UUID | None:
    """Insert a grant and its credit entry; None if that plan period was already granted."""
    grant_id: uuid.UUID | None = await session.scalar(
        insert(Grant)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=["account_id", "period_start"],
            index_where=text("source = 'plan'"),
        )
        .returning(Grant.id)
    )
    if grant_id is not None:
        await session.execute(
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
    session: AsyncSession,
    grant: Grant,
    amount: int,
    expires_at: datetime | None,
    occurred_at: datetime,
) -> None:
    """Raise a grant to ``amount`` and/or extend it; an increase is its own credit entry."""
    increase = amount - grant.amount
    await session.execute(
        update(Grant).where(Grant.id == grant.id).values(amount=amount, expires_at=expires_at)
    )
    if increase > 0:
        await session.execute(
            insert(LedgerEntry).values(
                account_id=grant.account_id,
                grant_id=grant.id,
                kind="grant_increase",
                amount=increase,
                occurred_at=occurred_at,
            )
        )


async def apply_draws(
    session: AsyncSession,
    account_id: uuid.UUID,
    draws: list[tuple[uuid.UUID, int]],
    *,
    hold_id: uuid.UUID | None,
    request_id: str,
    occurred_at: datetime,
) -> None:
    """Debit each grant; the CHECK on grants.used stops any overdraft at the database."""
    if not draws:
        return
    for grant_id, amount in draws:
        await session.execute(
            update(Grant).where(Grant.id == grant_id).values(used=Grant.used + amount)
        )
    await session.execute(
        insert(LedgerEntry),
        [
            {
                "account_id": account_id,
                "grant_id": grant_id,
                "hold_id": hold_id,
                "request_id": request_id,
                "kind": "spend",
                "amount": -amount,
                "occurred_at": occurred_at,
            }
            for grant_id, amount in draws
        ],
    )


async def sub_user_parent(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | None:
    parent = await session.scalar(
        select(Member.account_id).where(Member.user_id == user_id, Member.kind == "sub_user")
    )
    return parent


async def members_of(
    session: AsyncSession, pairs: set[tuple[uuid.UUID, uuid.UUID]]
) -> dict[tuple[uuid.UUID, uuid.UUID], Member]:
    """Memberships for (account, user) pairs, in one query."""
    if not pairs:
        return {}
    rows = await session.scalars(
        select(Member).where(tuple_(Member.account_id, Member.user_id).in_(list(pairs)))
    )
    return {(m.account_id, m.user_id): m for m in rows}


async def live_accounts(session: AsyncSession, ids: set[uuid.UUID]) -> set[uuid.UUID]:
    if not ids:
        return set()
    rows = await session.scalars(
        select(Account.id).where(Account.id.in_(ids), Account.deleted_at.is_(None))
    )
    return set(rows)


async def lock_accounts(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, Account]:
    """Lock several accounts, always in id order, so concurrent batches cannot deadlock."""
    rows = await session.scalars(
        select(Account)
        .where(Account.id.in_(ids))
        .order_by(Account.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {a.id: a for a in rows}


async def balances(
    session: AsyncSession, ids: list[uuid.UUID], now: datetime
) -> dict[uuid.UUID, tuple[int, int]]:
    """(active grants' remaining, open holds) per account, in two grouped queries."""
    remaining = dict(
        (
            await session.execute(
                select(Grant.account_id, func.sum(Grant.amount - Grant.used))
                .where(
                    Grant.account_id.in_(ids),
                    Grant.starts_at <= now,
                    or_(Grant.expires_at.is_(None), Grant.expires_at > now),
                )
                .group_by(Grant.account_id)
            )
        ).all()
    )
    held = dict(
        (
            await session.execute(
                select(Hold.account_id, func.sum(Hold.amount))
                .where(Hold.account_id.in_(ids), Hold.status == HELD, Hold.expires_at > now)
                .group_by(Hold.account_id)
            )
        ).all()
    )
    return {a: (int(remaining.get(a) or 0), int(held.get(a) or 0)) for a in ids}


async def requests_since_by_member(
    session: AsyncSession, pairs: set[tuple[uuid.UUID, uuid.UUID]], since: datetime
) -> dict[tuple[uuid.UUID, uuid.UUID], int]:
    if not pairs:
        return {}
    rows = await session.execute(
        select(Hold.account_id, Hold.user_id, func.count())
        .where(tuple_(Hold.account_id, Hold.user_id).in_(list(pairs)), Hold.created_at >= since)
        .group_by(Hold.account_id, Hold.user_id)
    )
    return {(a, u): int(n) for a, u, n in rows.all()}


async def holds_by_request(session: AsyncSession, request_ids: list[str]) -> dict[str, Hold]:
    rows = await session.scalars(select(Hold).where(Hold.request_id.in_(request_ids)))
    return {h.request_id: h for h in rows}


async def insert_holds(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Insert holds; returns the request_ids inserted (others already had a hold)."""
    if not rows:
        return set()
    inserted = await session.scalars(
        insert(Hold)
        .values(sorted(rows, key=lambda r: r["request_id"]))
        .on_conflict_do_nothing(index_elements=["request_id"])
        .returning(Hold.request_id)
    )
    return set(inserted)
