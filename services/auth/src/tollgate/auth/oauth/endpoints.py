from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Literal

import httpx
from fastapi import APIRouter, Form, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from tollgate.auth.accounts.schemas import LoginResponse
from tollgate.auth.accounts.service import user_out
from tollgate.auth.config import Settings
from tollgate.auth.deps import Client, SessionsDep, SettingsDep, SignedIn
from tollgate.auth.oauth.providers import OAuthProvider
from tollgate.auth.oauth.repository import OAuthRepository
from tollgate.auth.oauth.service import CodeReused, InvalidGrant, OAuthSignIn
from tollgate.shared.db import SessionDep
from tollgate.shared.errors import Conflict, NotFound
from tollgate.shared.openapi import problems

router = APIRouter(prefix="/api/auth/oauth", tags=["oauth"], responses=problems(400, 404, 409))
accounts = APIRouter(
    prefix="/api/users/oauth-accounts", tags=["users"], responses=problems(400, 404, 409)
)


def provider_named(request: Request, name: str) -> OAuthProvider:
    providers: dict[str, OAuthProvider] = request.app.state.oauth_providers
    provider = providers.get(name)
    if provider is None:
        raise NotFound(f"Sign-in with {name!r} is not available")
    return provider


def callback_url(settings: Settings, provider: str) -> str:
    base = (settings.oauth_callback_base_url or settings.public_url).rstrip("/")
    return f"{base}/api/auth/oauth/{provider}/callback"


@router.get("/{provider}/authorize", status_code=status.HTTP_302_FOUND)
async def authorize(
    provider: str,
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    redirect_uri: Annotated[str, Query(max_length=500)],
    code_challenge: Annotated[str, Query(max_length=128)],
    code_challenge_method: Annotated[str, Query(max_length=10)] = "S256",
    state: Annotated[str | None, Query(max_length=500)] = None,
) -> RedirectResponse:
    """Start signing in with GitHub or Google; the browser is sent to the provider."""
    chosen = provider_named(request, provider)
    url = await OAuthSignIn(db).start(
        chosen,
        callback_url(settings, provider),
        redirect_uri=redirect_uri,
        registered=settings.registered_redirect_uris(),
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        client_state=state,
    )
    return RedirectResponse(url, status_code=status.HTTP_302_FOUND)


@router.get("/{provider}/callback", status_code=status.HTTP_302_FOUND)
async def callback(
    provider: str,
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    state: Annotated[str, Query(max_length=200)],
    code: Annotated[str | None, Query(max_length=1000)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> RedirectResponse:
    """Where the provider sends the browser back; it continues to the client's redirect URI."""
    chosen = provider_named(request, provider)
    http: httpx.AsyncClient = request.app.state.oauth_http
    url = await OAuthSignIn(db).finish(
        chosen,
        http,
        callback_url(settings, provider),
        state=state,
        code=code,
        error=error,
        code_ttl=timedelta(seconds=settings.oauth_code_ttl_seconds),
    )
    return RedirectResponse(url, status_code=status.HTTP_302_FOUND)


@router.post("/token", response_model=LoginResponse)
async def token(
    grant_type: Annotated[Literal["authorization_code"], Form()],
    code: Annotated[str, Form(max_length=200)],
    code_verifier: Annotated[str, Form(max_length=200)],
    redirect_uri: Annotated[str, Form(max_length=500)],
    db: SessionDep,
    sessions: SessionsDep,
    client: Client,
    settings: SettingsDep,
) -> LoginResponse:
    """Exchange the one-time code (with its PKCE verifier) for tokens."""
    del grant_type
    flow = OAuthSignIn(db)
    try:
        row, user = await flow.redeem(code, code_verifier, redirect_uri)
    except CodeReused as reused:
        # RFC 6749 §4.1.2: a code used twice may have been stolen; end what it started.
        if reused.row.session_id is not None:
            session = await sessions.repo.get(reused.row.session_id)
            if session is not None:
                await sessions.revoke([session], reason="oauth-code-reuse")
        await db.commit()
        raise
    except InvalidGrant:
        await db.commit()  # the failed attempt spends the code; keep that
        raise
    session, pair = await sessions.start(user, client)
    row.session_id = session.id
    return LoginResponse(
        **pair.model_dump(), user=await user_out(db, user), api_endpoint=settings.public_url
    )


class LinkStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: str = Field(max_length=20)
    redirect_uri: str = Field(max_length=500)
    code_challenge: str = Field(max_length=128)
    code_challenge_method: str = Field("S256", max_length=10)
    state: str | None = Field(None, max_length=500)


class LinkUrl(BaseModel):
    authorize_url: str


class OAuthAccountOut(BaseModel):
    id: uuid.UUID
    provider: str
    email: str | None


@accounts.get("", response_model=list[OAuthAccountOut])
async def linked_accounts(caller: SignedIn, db: SessionDep) -> list[OAuthAccountOut]:
    """GitHub and Google accounts you can sign in with."""
    rows = await OAuthRepository(db).accounts_of(caller.user.id)
    return [OAuthAccountOut(id=r.id, provider=r.provider, email=r.email) for r in rows]


@accounts.post("", response_model=LinkUrl)
async def link_account(
    body: LinkStart, caller: SignedIn, request: Request, db: SessionDep, settings: SettingsDep
) -> LinkUrl:
    """Start linking a provider account to yours; open the returned URL in a browser."""
    chosen = provider_named(request, body.provider)
    url = await OAuthSignIn(db).start(
        chosen,
        callback_url(settings, body.provider),
        redirect_uri=body.redirect_uri,
        registered=settings.registered_redirect_uris(),
        code_challenge=body.code_challenge,
        code_challenge_method=body.code_challenge_method,
        client_state=body.state,
        link_user_id=caller.user.id,
    )
    return LinkUrl(authorize_url=url)


@accounts.delete("/{account_id}", status_code=status.HTTP_204_NO_CONTENT)
async def unlink_account(account_id: uuid.UUID, caller: SignedIn, db: SessionDep) -> Response:
    """Unlink a provider account; the last way to sign in cannot be removed."""
    repo = OAuthRepository(db)
    rows = {r.id: r for r in await repo.accounts_of(caller.user.id)}
    account = rows.get(account_id)
    if account is None:
        raise NotFound("No such linked account")
    if caller.user.password_hash is None and len(rows) <= 1:
        raise Conflict(
            "This is your only way to sign in; set a password or link another account first",
            type_slug="last-sign-in-method",
        )
    await repo.remove(account)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
