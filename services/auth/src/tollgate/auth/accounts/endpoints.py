from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Response, status

from tollgate.auth.accounts.erasure import erase_account
from tollgate.auth.accounts.schemas import (
    AccountDeletion,
    Credentials,
    LoginResponse,
    PasswordChange,
    ProfileUpdate,
    Registration,
    UserOut,
)
from tollgate.auth.accounts.service import Accounts, user_out
from tollgate.auth.deps import (
    Client,
    PasswordsDep,
    PeersDep,
    SessionsDep,
    SettingsDep,
    SignedIn,
    ThrottleDep,
)
from tollgate.auth.models import User
from tollgate.auth.peers.client import Peers
from tollgate.auth.sessions.service import ClientInfo, Sessions
from tollgate.shared.db import SessionDep
from tollgate.shared.openapi import problems

# Wrong credentials (401), a taken e-mail (409), a weak password (400/422), throttled (429).
router = APIRouter(prefix="/api/auth", tags=["auth"], responses=problems(400, 401, 409, 429))
users = APIRouter(prefix="/api/users", tags=["users"], responses=problems(400, 409))


async def signed_in_response(
    db: SessionDep,
    sessions: Sessions,
    user: User,
    client: ClientInfo,
    public_url: str,
    peers: Peers,
) -> LoginResponse:
    _, pair = await sessions.start(user, client)
    out = await user_out(db, user)
    out.monthly_usage = await peers.monthly_usage(pair.access_token)
    return LoginResponse(**pair.model_dump(), user=out, api_endpoint=public_url)


@router.post("/register", response_model=LoginResponse, status_code=status.HTTP_201_CREATED)
async def register(
    body: Registration,
    db: SessionDep,
    passwords: PasswordsDep,
    sessions: SessionsDep,
    client: Client,
    settings: SettingsDep,
    peers: PeersDep,
) -> LoginResponse:
    """Create an account and sign it in."""
    user = await Accounts(db, passwords).register(str(body.email), body.password, body.display_name)
    return await signed_in_response(db, sessions, user, client, settings.public_url, peers)


@router.post("/login-json", response_model=LoginResponse)
async def login_json(
    body: Credentials,
    db: SessionDep,
    passwords: PasswordsDep,
    throttle: ThrottleDep,
    sessions: SessionsDep,
    client: Client,
    settings: SettingsDep,
    peers: PeersDep,
) -> LoginResponse:
    """Sign in with email and password (the VS Code extension's login)."""
    user = await Accounts(db, passwords).authenticate(
        body.email, body.password, throttle, client.ip
    )
    return await signed_in_response(db, sessions, user, client, settings.public_url, peers)


@router.post("/login", response_model=LoginResponse)
async def login_form(
    username: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    db: SessionDep,
    passwords: PasswordsDep,
    throttle: ThrottleDep,
    sessions: SessionsDep,
    client: Client,
    settings: SettingsDep,
    peers: PeersDep,
) -> LoginResponse:
    """Sign in with an OAuth2 password form (``username`` is the email)."""
    user = await Accounts(db, passwords).authenticate(username, password, throttle, client.ip)
    return await signed_in_response(db, sessions, user, client, settings.public_url, peers)


@router.get("/me", response_model=UserOut)
async def me(caller: SignedIn, db: SessionDep, peers: PeersDep) -> UserOut:
    """The signed-in user, with this period's usage."""
    out = await user_out(db, caller.user)
    out.monthly_usage = await peers.monthly_usage(caller.principal.token)
    return out


@router.post("/password/change", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(
    body: PasswordChange,
    caller: SignedIn,
    db: SessionDep,
    passwords: PasswordsDep,
    sessions: SessionsDep,
) -> Response:
    """Change your password; every other session is signed out."""
    await Accounts(db, passwords).change_password(
        caller.user, body.current_password, body.new_password
    )
    await sessions.revoke_all(caller.user.id, reason="password-change", keep=caller.principal.sid)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users.get("/profile", response_model=UserOut)
async def profile(caller: SignedIn, db: SessionDep) -> UserOut:
    """Your profile."""
    return await user_out(db, caller.user)


@users.put("/profile", response_model=UserOut)
async def update_profile(
    body: ProfileUpdate, caller: SignedIn, db: SessionDep, passwords: PasswordsDep
) -> UserOut:
    """Change your display name."""
    name = body.name or " ".join(p for p in (body.first_name, body.last_name) if p)
    await Accounts(db, passwords).update_profile(caller.user, name)
    return await user_out(db, caller.user)


@users.delete("/account", status_code=status.HTTP_204_NO_CONTENT)
async def delete_account(
    body: AccountDeletion,
    caller: SignedIn,
    db: SessionDep,
    passwords: PasswordsDep,
    sessions: SessionsDep,
) -> Response:
    """Delete your account: personal data is erased and it can no longer sign in."""
    await Accounts(db, passwords).confirm_deletion(caller.user, body.password)
    await erase_account(db, sessions, caller.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
