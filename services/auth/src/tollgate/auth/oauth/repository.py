from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.models import OAuthAccount, OAuthCode, OAuthFlow


class OAuthRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.db = session

    def add(self, row: OAuthAccount | OAuthCode | OAuthFlow) -> None:
        self.db.add(row)

    async def flow_for_update(self, provider: str, state_hash: str) -> OAuthFlow | None:
        result = await self.db.scalar(
            select(OAuthFlow)
            .where(OAuthFlow.provider == provider, OAuthFlow.state_hash == state_hash)
            .with_for_update()
        )
        return result

    async def code_for_update(self, code_hash: str) -> OAuthCode | None:
        return await self.db.get(OAuthCode, code_hash, with_for_update=True)

    async def account(self, provider: str, subject: str) -> OAuthAccount | None:
        result = await self.db.scalar(
            select(OAuthAccount).where(
                OAuthAccount.provider == provider, OAuthAccount.provider_user_id == subject
            )
        )
        return result

    async def accounts_of(self, user_id: uuid.UUID) -> Sequence[OAuthAccount]:
        rows = await self.db.scalars(
            select(OAuthAccount)
            .where(OAuthAccount.user_id == user_id)
            .order_by(OAuthAccount.created_at)
        )
        return rows.all()

    async def count_of(self, user_id: uuid.UUID) -> int:
        count = await self.db.scalar(
            select(func.count()).select_from(OAuthAccount).where(OAuthAccount.user_id == user_id)
        )
        return int(count or 0)

    async def remove(self, account: OAuthAccount) -> None:
        await self.db.delete(account)
