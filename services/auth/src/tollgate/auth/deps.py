"""Dependencies the routes share: the signed-in caller, checked against the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from tollgate.auth.accounts.passwords import Passwords
from tollgate.auth.accounts.repository import UserRepository
from tollgate.auth.accounts.throttling import LoginThrottle
from tollgate.auth.api_keys.repository import ApiKeyRepository
from tollgate.auth.config import Settings
from tollgate.auth.models import User
from tollgate.auth.peers.client import Peers
from tollgate.auth.sessions.repository import SessionRepository
from tollgate.auth.sessions.service import ClientInfo, SessionPolicy, Sessions
from tollgate.auth.signing.tokens import TokenIssuer
from tollgate.shared.db import SessionDep
from tollgate.shared.errors import Forbidden, Unauthorized
from tollgate.shared.security import ROLE_ORDER, CurrentUser, Principal


@dataclass(frozen=True)
class Caller:
    principal: Principal
    user: User

    def has_role(self, role: str) -> bool:
        return ROLE_ORDER.get(self.user.role, -1) >= ROLE_ORDER[role]


# What a token obtained with an API key may do here: read with the ``read`` scope, and
# report its VS Code session. Managing credentials, keys, members or the account
# itself takes an interactive sign-in.
API_KEY_WRITABLE_PATHS = frozenset({"/api/vscode/session/validate"})


def check_api_key_reach(principal: Principal, request: Request) -> None:
    if principal.api_key_id is None:
        return
    if request.method in ("GET", "HEAD"):
        if "read" not in principal.scopes:
            raise Forbidden("This API key lacks the read scope", type_slug="insufficient-scope")
        return
    if request.url.path not in API_KEY_WRITABLE_PATHS:
        raise Forbidden(
            "API keys cannot do this; sign in interactively", type_slug="interactive-only"
        )


async def signed_in_caller(principal: CurrentUser, db: SessionDep, request: Request) -> Caller:
    """The token's user, still active, and its session not revoked.

    The gateway drops revoked tokens too; checking here as well means a logout is
    effective at auth at once, even for a request that bypassed the gateway's cache.
    """
    check_api_key_reach(principal, request)
    user = await UserRepository(db).get(principal.user_id)
    if user is None or not user.is_active or user.deleted_at is not None:
        raise Unauthorized("Account is disabled or deleted", type_slug="account-disabled")
    if principal.sid is not None:
        session = await SessionRepository(db).get(principal.sid)
        if (
            session is None
            or session.revoked_at is not None
            or session.expires_at <= datetime.now(UTC)
        ):
            raise Unauthorized("Session has ended; sign in again", type_slug="session-ended")
    if principal.api_key_id is not None:
        key = await ApiKeyRepository(db).get(principal.api_key_id)
        now = datetime.now(UTC)
        if (
            key is None
            or key.revoked_at is not None
            or (key.expires_at is not None and key.expires_at <= now)
        ):
            raise Unauthorized("API key has been revoked or has expired", type_slug="key-revoked")
    return Caller(principal, user)


SignedIn = Annotated[Caller, Depends(signed_in_caller)]


async def admin_caller(caller: SignedIn) -> Caller:
    # The role is read from the database, so a demotion applies before old tokens expire.
    if not caller.has_role("admin"):
        raise Forbidden("Requires the admin role")
    return caller


Admin = Annotated[Caller, Depends(admin_caller)]


def client_info(request: Request) -> ClientInfo:
    # The gateway appends the address it saw to X-Forwarded-For; counting proxies from
    # the right keeps a caller from choosing its own address with a forged header.
    hops = settings(request).trusted_proxy_hops
    forwarded = [p.strip() for p in request.headers.get("x-forwarded-for", "").split(",")]
    forwarded = [p for p in forwarded if p]
    ip: str | None = None
    if hops > 0 and forwarded:
        ip = forwarded[-hops] if len(forwarded) >= hops else forwarded[0]
    if not ip and request.client is not None:
        ip = request.client.host
    return ClientInfo(ip=ip[:64] if ip else None, user_agent=request.headers.get("user-agent"))


Client = Annotated[ClientInfo, Depends(client_info)]


def settings(request: Request) -> Settings:
    value: Settings = request.app.state.settings
    return value


def sessions_for(request: Request, db: SessionDep) -> Sessions:
    issuer: TokenIssuer = request.app.state.token_issuer
    policy: SessionPolicy = request.app.state.session_policy
    return Sessions(db, issuer, policy)


SessionsDep = Annotated[Sessions, Depends(sessions_for)]
SettingsDep = Annotated[Settings, Depends(settings)]


def peers(request: Request) -> Peers:
    value: Peers = request.app.state.peers
    return value


PeersDep = Annotated[Peers, Depends(peers)]


def passwords(request: Request) -> Passwords:
    value: Passwords = request.app.state.passwords
    return value


def throttle(request: Request) -> LoginThrottle:
    value: LoginThrottle = request.app.state.login_throttle
    return value


PasswordsDep = Annotated[Passwords, Depends(passwords)]
ThrottleDep = Annotated[LoginThrottle, Depends(throttle)]
