from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.models import OneTimeCode


class OneTimeCodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.db = session

    def add(self, code: OneTimeCode) -> None:
        self.db.add(code)

    async def usable_for_update(
        self, purpose: str, code_hash: str, now: datetime
    ) -> OneTimeCode | None:
        result = await self.db.scalar(
            select(OneTimeCode)
            .where(
                OneTimeCode.purpose == purpose,
                OneTimeCode.code_hash == code_hash,
                OneTimeCode.used_at.is_(None),
                OneTimeCode.expires_at > now,
            )
            .with_for_update()
        )
        return result

    async def spend_all(self, user_id: uuid.UUID, purpose: str, now: datetime) -> None:
        """Older codes of the same kind die when one is used: only the newest link matters."""
        await self.db.execute(
            update(OneTimeCode)
            .where(
                OneTimeCode.user_id == user_id,
                OneTimeCode.purpose == purpose,
                OneTimeCode.used_at.is_(None),
            )
            .values(used_at=now)
        )
