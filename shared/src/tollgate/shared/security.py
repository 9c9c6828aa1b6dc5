"""Verifying access tokens against auth's JWKS, and FastAPI dependencies for callers.

The verifier keeps the keys it last fetched: an unknown ``kid`` triggers one
refetch (at most once per cooldown, so garbage tokens cannot hammer auth), and
when auth is unreachable the last good keys go on working.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

import httpx
import jwt
from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from tollgate.shared.errors import Forbidden, Unauthorized
from tollgate.shared.openapi import raises

if TYPE_CHECKING:
    from tollgate.shared.verified_tokens import VerifiedTokens

__all__ = [
    "ALLOWED_ALGORITHMS",
    "ROLE_ORDER",
    "AdminUser",
    "CurrentUser",
    "JWKSVerifier",
    "Principal",
    "ServiceCaller",
    "bearer_token",
    "current_principal",
    "current_user",
    "require_role",
    "require_service",
]

log = logging.getLogger("tollgate.security")

# Asymmetric only: `none` and every HMAC algorithm are refused before any key is looked at.
ALLOWED_ALGORITHMS = ("EdDSA", "ES256")
MAX_LEEWAY_SECONDS = 60
ROLE_ORDER = {"user": 0, "developer": 1, "admin": 2, "superadmin": 3}


class Principal(BaseModel):
    """Who is calling, as the access token says."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sub: uuid.UUID | str
    typ: Literal["access", "service"]
    jti: str | None = None
    exp: int
    iat: int | None = None
    sid: uuid.UUID | None = None
    role: str = "user"
    plan: str | None = None
    org: uuid.UUID | None = None
    parent: uuid.UUID | None = None
    scopes: list[str] = Field(default_factory=list)
    api_key_id: uuid.UUID | None = None
    token: str = Field("", exclude=True, repr=False)

    @property
    def user_id(self) -> uuid.UUID:
        if not isinstance(self.sub, uuid.UUID):
            raise Forbidden("This token does not belong to a user")
        return self.sub

    def has_role(self, role: str) -> bool:
        return ROLE_ORDER.get(self.role, -1) >= ROLE_ORDER[role]


class JWKSVerifier:
    def __init__(
        self,
        jwks_url: str,
        *,
        issuer: str,
        audience: str,
        leeway: int = 30,
        refetch_cooldown: float = 10.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if leeway > MAX_LEEWAY_SECONDS:
            raise ValueError(f"leeway above {MAX_LEEWAY_SECONDS}s is not allowed")
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.refetch_cooldown = refetch_cooldown
        self._http = http or httpx.AsyncClient(timeout=5.0)
        self._owns_http = http is None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._last_fetch = 0.0
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    async def refresh(self, *, force: bool = False) -> bool:
        """Fetch the JWKS; keeps the previous keys on any failure. True if keys were loaded."""
        async with self._lock:
            now = time.monotonic()
            if not force and self._keys and now - self._last_fetch < self.refetch_cooldown:
                return False
            self._last_fetch = now
            try:
                response = await self._http.get(self.jwks_url)
                response.raise_for_status()
                document = response.json()
            except (httpx.HTTPError, json.JSONDecodeError, ValueError) as exc:
                log.warning(
                    "JWKS fetch from %s failed, keeping %d keys: %s",
                    self.jwks_url,
                    len(self._keys),
                    exc,
                )
                return False
            keys: dict[str, jwt.PyJWK] = {}
            for entry in document.get("keys", []):
                kid = entry.get("kid")
                alg = entry.get("alg")
                if not kid or alg not in ALLOWED_ALGORITHMS:
                    continue
                try:
                    keys[kid] = jwt.PyJWK(entry, algorithm=alg)
                except jwt.PyJWTError as exc:
                    log.warning("skipping JWKS key %s: %s", kid, exc)
            if keys:
                self._keys = keys
            return bool(keys)

    async def _key_for(self, kid: str) -> jwt.PyJWK:
        key = self._keys.get(kid)
        if key is None:
            await self.refresh()
            key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("Token signed with an unknown key", type_slug="invalid-token")
        return key

    async def verify(self, token: str) -> Principal:
        """Return the token's principal or raise Unauthorized; never anything else."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("Malformed token", type_slug="invalid-token") from exc
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise Unauthorized(
                f"Token algorithm {alg!r} is not accepted", type_slug="invalid-token"
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("Token has no key id", type_slug="invalid-token")
        key = await self._key_for(kid)
        if key.algorithm_name != alg:
            raise Unauthorized("Token algorithm does not match its key", type_slug="invalid-token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub", "iat"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Token has expired", type_slug="token-expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"Invalid token: {exc}", type_slug="invalid-token") from exc
        try:
            sub = claims.get("sub")
            if claims.get("typ") == "access":
                claims["sub"] = uuid.UUID(str(sub))
            return Principal.model_validate({**claims, "token": token})
        except ValueError as exc:
            raise Unauthorized("Token claims are malformed", type_slug="invalid-token") from exc


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("A bearer token is required")
    token = token.strip()
    if len(token) > 8192:
        raise Unauthorized("Token is too long", type_slug="invalid-token")
    return token


@raises(401, authenticates=True)
async def current_principal(request: Request) -> Principal:
    """The verified caller, from the service's verified tokens (``app.state.verified_tokens``)."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    tokens: VerifiedTokens[Principal] = request.app.state.verified_tokens
    principal = await tokens.verify(bearer_token(request))
    request.state.principal = principal
    return principal


@raises(401, 403, authenticates=True)
async def current_user(request: Request) -> Principal:
    principal = await current_principal(request)
    if principal.typ != "access":
        raise Forbidden("This route is for users, not services")
    return principal


def require_role(role: str) -> Callable[[Request], Awaitable[Principal]]:
    if role not in ROLE_ORDER:
        raise ValueError(f"unknown role {role}")

    @raises(401, 403, authenticates=True)
    async def dependency(request: Request) -> Principal:
        principal = await current_user(request)
        if not principal.has_role(role):
            raise Forbidden(f"Requires the {role} role")
        return principal

    return dependency


@raises(401, 403, authenticates=True)
async def require_service(request: Request) -> Principal:
    principal = await current_principal(request)
    if principal.typ != "service":
        raise Forbidden("Internal route: a service token is required")
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]
AdminUser = Annotated[Principal, Depends(require_role("admin"))]
ServiceCaller = Annotated[Principal, Depends(require_service)]
