"""API keys: shown once, stored as a hash, exchanged by the gateway for a short access token."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.accounts.repository import UserRepository
from tollgate.auth.api_keys.format import (
    DISPLAY_PREFIX_CHARS,
    hash_api_key,
    is_well_formed,
    new_api_key,
)
from tollgate.auth.api_keys.repository import ApiKeyRepository
from tollgate.auth.api_keys.schemas import ApiKeyOut, IntrospectionResult
from tollgate.auth.events import publish
from tollgate.auth.models import ApiKey
from tollgate.auth.plans.repository import AccountPlanRepository
from tollgate.auth.signing.tokens import AccessClaims, TokenIssuer
from tollgate.shared.errors import NotFound, UnprocessableEntity
from tollgate.shared.messaging.events import ApiKeyRevoked, ApiKeyScopesChanged
from tollgate.shared.scopes import API_KEY_SCOPES

LAST_USED_RESOLUTION = timedelta(minutes=1)
INACTIVE = IntrospectionResult(active=False)


def key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        last_four=key.last_four,
        scopes=list(key.scopes),
        created_at=key.created_at,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


def checked_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(API_KEY_SCOPES))
    if unknown:
        raise UnprocessableEntity(
            f"Unknown scope(s) {', '.join(unknown)}; known: {', '.join(API_KEY_SCOPES)}",
            type_slug="unknown-scope",
        )
    return sorted(set(scopes))


class ApiKeys:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db
        self.repo = ApiKeyRepository(db)

    async def create(
        self, user_id: uuid.UUID, name: str, scopes: list[str], expires_in_days: int | None
    ) -> tuple[ApiKey, str]:
        now = datetime.now(UTC)
        secret = new_api_key()
        key = ApiKey(
            id=uuid.uuid4(),
            user_id=user_id,
            name=name,
            key_hash=hash_api_key(secret),
            prefix=secret[:DISPLAY_PREFIX_CHARS],
            last_four=secret[-4:],
            scopes=checked_scopes(scopes),
            created_at=now,
            expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
        )
        self.repo.add(key)
        await self.db.flush()
        return key, secret

    async def update(
        self, user_id: uuid.UUID, key_id: uuid.UUID, name: str | None, scopes: list[str] | None
    ) -> ApiKey:
        key = await self.repo.owned(user_id, key_id)
        if key is None or key.revoked_at is not None:
            raise NotFound("No such API key")
        if name is not None:
            key.name = name
        if scopes is not None and checked_scopes(scopes) != sorted(key.scopes):
            key.scopes = checked_scopes(scopes)
            # Not a revocation (the key lives on): the gateway refuses the key's tokens
            # minted with the old scopes and asks for a new one, on every replica.
            await publish(
                self.db,
                key.user_id,
                ApiKeyScopesChanged(
                    key_id=key.id,
                    user_id=key.user_id,
                    scopes=list(key.scopes),
                    changed_at=datetime.now(UTC),
                ),
            )
        return key

    async def revoke(self, user_id: uuid.UUID, key_id: uuid.UUID) -> None:
        key = await self.repo.owned(user_id, key_id)
        if key is None or key.revoked_at is not None:
            raise NotFound("No such API key")
        key.revoked_at = datetime.now(UTC)
        await self._announce_revoked(key)

    async def revoke_all(self, user_id: uuid.UUID) -> None:
        now = datetime.now(UTC)
        for key in await self.repo.of_user(user_id, include_revoked=False):
            key.revoked_at = now
            await self._announce_revoked(key)

    async def _announce_revoked(self, key: ApiKey) -> None:
        await publish(self.db, key.user_id, ApiKeyRevoked(key_id=key.id, user_id=key.user_id))

    async def introspect(self, secret: str, issuer: TokenIssuer) -> IntrospectionResult:
        if not is_well_formed(secret):
            return INACTIVE
        key = await self.repo.by_hash(hash_api_key(secret))
        now = datetime.now(UTC)
        if key is None or key.revoked_at is not None:
            return INACTIVE
        if key.expires_at is not None and key.expires_at <= now:
            return INACTIVE
        user = await UserRepository(self.db).get(key.user_id)
        if user is None or not user.is_active or user.deleted_at is not None:
            return INACTIVE
        plan, _ = await AccountPlanRepository(self.db).plan_of(user)
        ttl = issuer.access_ttl
        if key.expires_at is not None:
            ttl = max(1, min(ttl, int((key.expires_at - now).total_seconds())))
        token, lifetime = issuer.access_token(
            AccessClaims(
                user_id=user.id,
                role=user.role,
                plan=plan,
                org=user.org_id,
                parent=user.parent_user_id,
                scopes=tuple(key.scopes),
                api_key_id=key.id,
            ),
            ttl=ttl,
        )
        await self.repo.touch(key.id, now, now - LAST_USED_RESOLUTION)
        return IntrospectionResult(
            active=True,
            key_id=key.id,
            user_id=user.id,
            scopes=list(key.scopes),
            access_token=token,
            expires_in=lifetime,
        )
