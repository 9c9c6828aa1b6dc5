"""Who pays for an account, as auth knows it: the addresses balance mail goes to."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.models import OrgMember, User

__all__ = ["Payer", "payers_of"]


@dataclass(frozen=True)
class Payer:
    email: str
    name: str | None


def _reachable(user: User) -> bool:
    return user.is_active and user.deleted_at is None and bool(user.email)


async def payers_of(session: AsyncSession, account_id: uuid.UUID) -> list[Payer]:
    """A personal account's user (a sub-user's parent, should one be named), or an
    organization's owners; nobody for an account auth does not know or cannot reach."""
    user = await session.get(User, account_id)
    if user is not None and user.parent_user_id is not None:
        user = await session.get(User, user.parent_user_id)
    if user is not None:
        return [Payer(user.email, user.name)] if _reachable(user) and user.email else []
    owners = await session.scalars(
        select(User)
        .join(OrgMember, OrgMember.user_id == User.id)
        .where(OrgMember.org_id == account_id, OrgMember.role == "owner")
        .order_by(User.email)
    )
    return [Payer(u.email, u.name) for u in owners if _reachable(u) and u.email]
