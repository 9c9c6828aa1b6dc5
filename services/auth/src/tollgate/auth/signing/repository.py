from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.models import SigningKey

# Two replicas starting at once must not both create (or rotate to) a new key.
_KEY_ROTATION_LOCK = 0x7A1E_0001


class SigningKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_for_rotation(self) -> None:
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(:k)"), {"k": _KEY_ROTATION_LOCK}
        )

    async def published(self, now: datetime) -> Sequence[SigningKey]:
        """Keys whose public half belongs in the JWKS, newest first."""
        rows = await self.session.scalars(
            select(SigningKey)
            .where(or_(SigningKey.published_until.is_(None), SigningKey.published_until > now))
            .order_by(SigningKey.created_at.desc())
        )
        return rows.all()

    def add(self, key: SigningKey) -> None:
        self.session.add(key)

    async def retire_all_except(self, kid: str, now: datetime, published_until: datetime) -> None:
        await self.session.execute(
            update(SigningKey)
            .where(SigningKey.kid != kid, SigningKey.retired_at.is_(None))
            .values(retired_at=now, published_until=published_until)
        )
