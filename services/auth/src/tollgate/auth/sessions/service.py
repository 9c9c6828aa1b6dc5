"""Sessions: refresh-token families, rotation, reuse detection, and revocation.

A login starts a session with one refresh token. Each refresh spends the token
presented and hands out its successor. A spent token seen again means it was
copied: the whole session is revoked and the gateway is told. The exception is
a client refreshing twice at once (two tabs, a retry after a timeout): a spent
token presented within a few seconds of being spent gets a fresh successor,
so the client is not logged out.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.accounts.repository import UserRepository
from tollgate.auth.accounts.schemas import TokenPair
from tollgate.auth.events import publish
from tollgate.auth.models import RefreshToken, Session, User
from tollgate.auth.plans.repository import AccountPlanRepository
from tollgate.auth.sessions.repository import SessionRepository
from tollgate.auth.signing.tokens import AccessClaims, TokenIssuer
from tollgate.shared.errors import Unauthorized
from tollgate.shared.messaging.events import SessionsRevoked

REFRESH_PREFIX = "rt_"


def hash_refresh_token(token: str) -> str:
    # 256 random bits need no slow hash: a fast one is enough to make the table useless.
    return hashlib.sha256(token.encode()).hexdigest()


def new_refresh_token() -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class SessionPolicy:
    refresh_ttl: timedelta
    reuse_grace: timedelta


@dataclass(frozen=True)
class ClientInfo:
    ip: str | None
    user_agent: str | None


class RefreshTokenReused(Unauthorized):
    type_slug = "refresh-token-reused"


class SessionRevocation:
    """Ending sessions and telling the gateway; needs only the database."""

    def __init__(self, db: AsyncSession) -> None:
        self.db = db
        self.repo = SessionRepository(db)

    async def revoke(
        self, sessions: list[Session], *, reason: str, now: datetime | None = None
    ) -> None:
        """Revoke sessions and tell the gateway about each of them."""
        now = now or datetime.now(UTC)
        live = [s for s in sessions if s.revoked_at is None]
        await self.repo.revoke([s.id for s in live], now, reason)
        for s in live:
            s.revoked_at = now
            await publish(
                self.db,
                s.user_id,
                SessionsRevoked(user_id=s.user_id, session_id=s.id, not_before=now),
            )

    async def revoke_all(
        self, user_id: uuid.UUID, *, reason: str, keep: uuid.UUID | None = None
    ) -> int:
        now = datetime.now(UTC)
        sessions = [s for s in await self.repo.active_for_user(user_id, now) if s.id != keep]
        await self.revoke(sessions, reason=reason, now=now)
        return len(sessions)

    async def revoke_user_everywhere(self, user_id: uuid.UUID, *, reason: str) -> None:
        """Account disabled or deleted: every token of the user dies, API-key tokens included."""
        now = datetime.now(UTC)
        sessions = list(await self.repo.active_for_user(user_id, now))
        await self.repo.revoke([s.id for s in sessions], now, reason)
        await publish(
            self.db, user_id, SessionsRevoked(user_id=user_id, session_id=None, not_before=now)
        )


class Sessions(SessionRevocation):
    def __init__(self, db: AsyncSession, issuer: TokenIssuer, policy: SessionPolicy) -> None:
        super().__init__(db)
        self.issuer = issuer
        self.policy = policy

    async def claims_for(self, user: User, session_id: uuid.UUID | None) -> AccessClaims:
        plan, _ = await AccountPlanRepository(self.db).plan_of(user)
        return AccessClaims(
            user_id=user.id,
            role=user.role,
            plan=plan,
            org=user.org_id,
            parent=user.parent_user_id,
            session_id=session_id,
        )

    async def start(self, user: User, client: ClientInfo) -> tuple[Session, TokenPair]:
        now = datetime.now(UTC)
        session = Session(
            id=uuid.uuid4(),
            user_id=user.id,
            created_at=now,
            last_used_at=now,
            expires_at=now + self.policy.refresh_ttl,
            ip_address=(client.ip or "")[:64] or None,
            user_agent=(client.user_agent or "")[:300] or None,
        )
        self.repo.add(session)
        await self.db.flush()
        return session, await self._issue(user, session, now)

    async def _issue(self, user: User, session: Session, now: datetime) -> TokenPair:
        refresh = new_refresh_token()
        self.repo.add(
            RefreshToken(
                id=uuid.uuid4(),
                session_id=session.id,
                token_hash=hash_refresh_token(refresh),
                created_at=now,
            )
        )
        access, ttl = self.issuer.access_token(await self.claims_for(user, session.id))
        return TokenPair(access_token=access, refresh_token=refresh, expires_in=ttl)

    async def refresh(self, token: str) -> TokenPair:
        """Spend a refresh token for a new pair; a replayed one revokes its session."""
        now = datetime.now(UTC)
        found = await self.repo.token_for_update(hash_refresh_token(token))
        if found is None:
            raise Unauthorized("Refresh token is not valid", type_slug="invalid-refresh-token")
        row, session = found
        if session.revoked_at is not None or session.expires_at <= now:
            raise Unauthorized("Session has ended; sign in again", type_slug="session-ended")
        user = await UserRepository(self.db).get(session.user_id)
        if user is None or not user.is_active or user.deleted_at is not None:
            raise Unauthorized("Account is disabled", type_slug="account-disabled")
        if row.spent_at is not None:
            if now - row.spent_at > self.policy.reuse_grace:
                await self.revoke([session], reason="refresh-token-reuse", now=now)
                # Commit the revocation before refusing: the caller's rollback must not undo it.
                await self.db.commit()
                raise RefreshTokenReused(
                    "Refresh token was already used; the session has been revoked"
                )
        else:
            row.spent_at = now
        session.last_used_at = now
        return await self._issue(user, session, now)
