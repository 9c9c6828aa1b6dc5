"""Dependencies the routes share: settings, and the two callers of /internal routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tollgate.shared.errors import Forbidden, Unauthorized
from tollgate.shared.security import Principal, bearer_token
from tollgate.shared.verified_tokens import VerifiedTokens
from tollgate.usage.config import Settings

__all__ = [
    "ReservationCaller",
    "SettingsDep",
    "calling_service",
    "reservation_caller",
]


async def get_settings(request: Request) -> Settings:
    # async on purpose: FastAPI runs a plain def dependency in a thread, per request.
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def _verified_tokens(request: Request) -> VerifiedTokens[Principal]:
    # llm-proxy sends the same service token, and a user's same access token, on
    # every call: the runtime's table checks each once.
    tokens: VerifiedTokens[Principal] = request.app.state.verified_tokens
    return tokens


async def calling_service(request: Request) -> Principal:
    principal = await _verified_tokens(request).verify(bearer_token(request))
    if principal.typ != "service":
        raise Forbidden("Internal route: a service token is required")
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
    user = await _verified_tokens(request).verify(token)
    if user.typ != "access":
        raise Unauthorized("X-User-Token must be a user's access token", type_slug="invalid-token")
    return user


ReservationCaller = Annotated[Principal, Depends(reservation_caller)]
