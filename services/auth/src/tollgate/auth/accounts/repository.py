from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.models import User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID, *, for_update: bool = False) -> User | None:
        return await self.session.get(User, user_id, with_for_update=for_update)

    async def by_email(self, email: str) -> User | None:
        result = await self.session.scalar(select(User).where(User.email == email.lower()))
        return result

    async def email_taken(self, email: str) -> bool:
        return await self.by_email(email) is not None

    def add(self, user: User) -> None:
        self.session.add(user)

    async def search(self, query: str | None, limit: int, offset: int) -> Sequence[User]:
        stmt = select(User).where(User.deleted_at.is_(None))
        if query:
            pattern = f"%{query.lower().replace('%', '').replace('_', '')}%"
            stmt = stmt.where(or_(User.email.like(pattern), func.lower(User.name).like(pattern)))
        rows = await self.session.scalars(
            stmt.order_by(User.created_at.desc(), User.id).limit(limit).offset(offset)
        )
        return rows.all()

    async def count_superadmins(self) -> int:
        count = await self.session.scalar(
            select(func.count()).select_from(User).where(User.role == "superadmin")
        )
        return int(count or 0)

    async def sub_users(self) -> Sequence[User]:
        """Every sub-user not deleted, share-locked: no changes under a reader announcing them."""
        rows = await self.session.scalars(
            select(User)
            .where(User.parent_user_id.is_not(None), User.deleted_at.is_(None))
            .order_by(User.created_at)
            .with_for_update(read=True)
        )
        return rows.all()

    async def children(self, parent_id: uuid.UUID) -> Sequence[User]:
        rows = await self.session.scalars(
            select(User)
            .where(User.parent_user_id == parent_id, User.deleted_at.is_(None))
            .order_by(User.created_at)
        )
        return rows.all()
