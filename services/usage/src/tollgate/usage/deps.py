"""Dependencies the routes share: settings, and the two callers of /internal routes."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request

from tollgate.shared.errors import Forbidden, Unauthorized
from tollgate.shared.security import JWKSVerifier, Principal, bearer_token
from tollgate.usage.config import Settings

__all__ = ["ReservationCaller", "SettingsDep"]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


# Verified service tokens by their text, until they expire: llm-proxy sends the same
# token on every call for minutes, and one signature check per call is enough.
_SERVICE_CACHE_SIZE = 256


async def calling_service(request: Request) -> Principal:
    token = bearer_token(request)
    cache: dict[str, Principal] = request.app.state.__dict__.setdefault("service_principals", {})
    principal = cache.get(token)
    if principal is not None and principal.exp > time.time():
        return principal
    verifier: JWKSVerifier = request.app.state.jwt_verifier
    principal = await verifier.verify(token)
    if principal.typ != "service":
        raise Forbidden("Internal route: a service token is required")
    if len(cache) >= _SERVICE_CACHE_SIZE:
        cache.clear()
    cache[token] = principal
    return principal


async def reservation_caller(
    request: Request,
    settings: SettingsDep,
    service: Annotated[Principal, Depends(calling_service)],
) -> Principal:
    """The user a service acts for: its token in Authorization, the user's in X-User-Token."""
    if str(service.sub) not in settings.reservation_client_subjects:
        raise Forbidden("This service may not manage reservations")
    token = request.headers.get("x-user-token", "").strip()
    if not token:
        raise Unauthorized("X-User-Token with the caller's access token is required")
    if len(token) > 8192:
        raise Unauthorized("Token is too long", type_slug="invalid-token")
    verifier: JWKSVerifier = request.app.state.jwt_verifier
    user = await verifier.verify(token)
    if user.typ != "access":
        raise Unauthorized("X-User-Token must be a user's access token", type_slug="invalid-token")
    return user


ReservationCaller = Annotated[Principal, Depends(reservation_caller)]
