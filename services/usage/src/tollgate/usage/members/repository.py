"""SQL for members: facts from auth's events, applied only if newer than what is kept."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.usage.models import Member

__all__ = [
    "apply_fact",
    "managed_organizations",
    "members_of",
    "org_memberships",
    "set_member_cap",
]


async def apply_fact(
    session: AsyncSession,
    account_id: uuid.UUID,
    user_id: uuid.UUID,
    fact_at: datetime,
    *,
    kind: str,
    **changes: Any,
) -> bool:
    """Write ``changes`` unless a newer fact about this membership was applied already.

    A fact of the same instant is applied again (a redelivery writes the same values),
    so only a strictly older event is dropped. False if it was.
    """
    default_role = "sub_user" if kind == "sub_user" else None
    values = {"kind": kind, "role": default_role, **changes, "fact_at": fact_at}
    stmt = insert(Member).values(account_id=account_id, user_id=user_id, **values)
    applied = await session.scalar(
        stmt.on_conflict_do_update(
            index_elements=["account_id", "user_id"],
            set_={**changes, "kind": kind, "fact_at": fact_at, "updated_at": func.now()},
            where=or_(Member.fact_at.is_(None), Member.fact_at <= fact_at),
        ).returning(Member.user_id)
    )
    return applied is not None


async def org_memberships(session: AsyncSession, user_id: uuid.UUID) -> list[Member]:
    """The user's current organization memberships (one, unless events are still on the way)."""
    rows = await session.scalars(
        select(Member).where(Member.user_id == user_id, Member.kind == "org", Member.active)
    )
    return list(rows)


async def managed_organizations(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    """The organizations where the user is an active owner or admin."""
    rows = await session.scalars(
        select(Member.account_id).where(
            Member.user_id == user_id,
            Member.kind == "org",
            Member.active,
            Member.role.in_(("owner", "admin")),
        )
    )
    return list(rows)


async def members_of(session: AsyncSession, account_ids: list[uuid.UUID]) -> list[Member]:
    """Everyone spending from these accounts, the inactive too (their past usage counts)."""
    rows = await session.scalars(
        select(Member)
        .where(Member.account_id.in_(account_ids))
        .order_by(Member.account_id, Member.kind, Member.user_id)
    )
    return list(rows)


async def set_member_cap(
    session: AsyncSession,
    account_id: uuid.UUID,
    user_id: uuid.UUID,
    kind: str,
    cap_tokens: int | None,
) -> None:
    stmt = insert(Member).values(
        account_id=account_id, user_id=user_id, kind=kind, role=kind, cap_tokens=cap_tokens
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["account_id", "user_id"],
            set_={"cap_tokens": cap_tokens, "updated_at": func.now()},
        )
    )
