"""SQL for org_members: auth's facts, applied only if newer than what is kept."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.models import OrgMember

__all__ = ["apply_fact", "get"]


async def apply_fact(
    session: AsyncSession,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    fact_at: datetime,
    *,
    role: str | None = None,
    active: bool | None = None,
) -> bool:
    """Record a change unless a newer one was recorded already; False if it was older."""
    changes: dict[str, object] = {"fact_at": fact_at}
    if role is not None:
        changes["role"] = role
    if active is not None:
        changes["active"] = active
    stmt = insert(OrgMember).values(
        org_id=org_id,
        user_id=user_id,
        role=role,
        active=True if active is None else active,
        fact_at=fact_at,
    )
    applied = await session.scalar(
        stmt.on_conflict_do_update(
            index_elements=["org_id", "user_id"],
            set_=changes,
            where=OrgMember.fact_at <= fact_at,
        ).returning(OrgMember.user_id)
    )
    return applied is not None


async def get(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> OrgMember | None:
    return await session.get(OrgMember, (org_id, user_id))
