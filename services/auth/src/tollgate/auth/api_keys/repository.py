from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.models import ApiKey


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.db = session

    def add(self, key: ApiKey) -> None:
        self.db.add(key)

    async def get(self, key_id: uuid.UUID) -> ApiKey | None:
        return await self.db.get(ApiKey, key_id)

    async def by_hash(self, key_hash: str) -> ApiKey | None:
        result = await self.db.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))
        return result

    async def owned(self, user_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None:
        result = await self.db.scalar(
            select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id).with_for_update()
        )
        return result

    async def of_user(self, user_id: uuid.UUID, *, include_revoked: bool) -> Sequence[ApiKey]:
        stmt = select(ApiKey).where(ApiKey.user_id == user_id)
        if not include_revoked:
            stmt = stmt.where(ApiKey.revoked_at.is_(None))
        rows = await self.db.scalars(stmt.order_by(ApiKey.created_at.desc()))
        return rows.all()

    async def touch(self, key_id: uuid.UUID, now: datetime, not_since: datetime) -> None:
        """Record use, at most once per interval: introspection is hot, writes are not free."""
        await self.db.execute(
            update(ApiKey)
            .where(
                ApiKey.id == key_id,
                (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < not_since),
            )
            .values(last_used_at=now)
        )
