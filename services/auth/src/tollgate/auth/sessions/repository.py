from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.models import RefreshToken, Session


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.db = session

    def add(self, row: Session | RefreshToken) -> None:
        self.db.add(row)

    async def get(self, session_id: uuid.UUID) -> Session | None:
        return await self.db.get(Session, session_id)

    async def token_for_update(self, token_hash: str) -> tuple[RefreshToken, Session] | None:
        """The refresh token and its session, locked: concurrent refreshes queue up here."""
        row = (
            await self.db.execute(
                select(RefreshToken, Session)
                .join(Session, Session.id == RefreshToken.session_id)
                .where(RefreshToken.token_hash == token_hash)
                .with_for_update(of=RefreshToken)
            )
        ).first()
        return None if row is None else (row[0], row[1])

    async def active_for_user(self, user_id: uuid.UUID, now: datetime) -> Sequence[Session]:
        rows = await self.db.scalars(
            select(Session)
            .where(
                Session.user_id == user_id,
                Session.revoked_at.is_(None),
                Session.expires_at > now,
            )
            .order_by(Session.created_at.desc())
        )
        return rows.all()

    async def revoke(self, session_ids: Sequence[uuid.UUID], now: datetime, reason: str) -> None:
        if session_ids:
            await self.db.execute(
                update(Session)
                .where(Session.id.in_(session_ids), Session.revoked_at.is_(None))
                .values(revoked_at=now, revoked_reason=reason)
            )
