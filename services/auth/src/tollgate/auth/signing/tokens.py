"""Minting access and service tokens (the claims every service reads), and verifying our own."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from tollgate.auth.signing.keyring import KeyRing
from tollgate.shared.security import JWKSVerifier


@dataclass(frozen=True)
class AccessClaims:
    """Who a user token speaks for; everything but the timestamps and ids."""

    user_id: uuid.UUID
    role: str
    plan: str
    org: uuid.UUID | None = None
    parent: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    scopes: tuple[str, ...] = ()
    api_key_id: uuid.UUID | None = None


class TokenIssuer:
    def __init__(
        self,
        keyring: KeyRing,
        *,
        issuer: str,
        audience: str,
        access_ttl: int,
        service_ttl: int,
    ) -> None:
        self.keyring = keyring
        self.issuer = issuer
        self.audience = audience
        self.access_ttl = access_ttl
        self.service_ttl = service_ttl

    def _base(self, sub: str, typ: str, ttl: int) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "typ": typ,
        }

    def access_token(self, who: AccessClaims, ttl: int | None = None) -> tuple[str, int]:
        """A signed access JWT and its lifetime in seconds."""
        lifetime = min(ttl or self.access_ttl, self.access_ttl)
        claims = self._base(str(who.user_id), "access", lifetime)
        claims.update(
            sid=str(who.session_id) if who.session_id else None,
            role=who.role,
            plan=who.plan,
            org=str(who.org) if who.org else None,
            parent=str(who.parent) if who.parent else None,
            scopes=list(who.scopes),
            api_key_id=str(who.api_key_id) if who.api_key_id else None,
        )
        return self.keyring.sign(claims), lifetime

    def service_token(self, client_id: str, scopes: list[str]) -> tuple[str, int]:
        claims = self._base(f"service:{client_id}", "service", self.service_ttl)
        claims.update(sid=None, role="user", scopes=scopes)
        return self.keyring.sign(claims), self.service_ttl


class LocalVerifier(JWKSVerifier):
    """Verifies tokens against the key ring in this process instead of fetching our own JWKS."""

    def __init__(self, keyring: KeyRing, *, issuer: str, audience: str) -> None:
        super().__init__("local", issuer=issuer, audience=audience)
        self.keyring = keyring

    async def refresh(self, *, force: bool = False) -> bool:
        # The ring in this process is always consulted (a rotation here is seen at once);
        # the database, where another replica may have rotated, at most once per cooldown,
        # so tokens with made-up key ids cannot turn into database reads.
        async with self._lock:
            now = time.monotonic()
            if force or now - self._last_fetch >= self.refetch_cooldown:
                self._last_fetch = now
                await self.keyring.reload()
            self._keys = {
                k["kid"]: jwt.PyJWK(k, algorithm=k["alg"]) for k in self.keyring.jwks()["keys"]
            }
            return bool(self._keys)
