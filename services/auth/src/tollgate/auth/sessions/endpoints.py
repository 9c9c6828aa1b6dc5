from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response, status

from tollgate.auth.accounts.schemas import TokenPair
from tollgate.auth.deps import SessionsDep, SignedIn, signed_in_caller
from tollgate.auth.sessions.schemas import LogoutRequest, RefreshRequest, SessionOut
from tollgate.auth.sessions.service import hash_refresh_token
from tollgate.shared.db import SessionDep
from tollgate.shared.errors import NotFound, Unauthorized
from tollgate.shared.openapi import problems
from tollgate.shared.security import current_user

# A refresh token that is unknown, spent, expired or revoked.
router = APIRouter(prefix="/api/auth", tags=["auth"], responses=problems(401))


@router.post("/refresh", response_model=TokenPair)
async def refresh(body: RefreshRequest, sessions: SessionsDep) -> TokenPair:
    """Exchange a refresh token for a new pair; each refresh token works once."""
    return await sessions.refresh(body.refresh_token)


async def session_to_end(
    request: Request, db: SessionDep, sessions: SessionsDep, body: LogoutRequest | None
) -> tuple[uuid.UUID, uuid.UUID | None] | None:
    """(user, session) named by the access token, else by the refresh token; None: nothing."""
    refresh_token = body.refresh_token if body is not None else None
    if request.headers.get("authorization"):
        try:
            caller = await signed_in_caller(await current_user(request), db, request)
            return caller.user.id, caller.principal.sid
        except Unauthorized:
            # An expired access token must not keep a client from signing out.
            if refresh_token is None:
                raise
    if refresh_token is None:
        raise Unauthorized("Send the access token or the refresh token of the session to end")
    found = await sessions.repo.token_for_update(hash_refresh_token(refresh_token))
    if found is None:
        return None
    return found[1].user_id, found[1].id


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    request: Request, db: SessionDep, sessions: SessionsDep, body: LogoutRequest | None = None
) -> Response:
    """Sign out this session (access or refresh token), or all of them with ``all: true``."""
    target = await session_to_end(request, db, sessions, body)
    if target is not None:
        user_id, session_id = target
        if body is not None and body.all:
            await sessions.revoke_all(user_id, reason="logout-all")
        elif session_id is not None:
            session = await sessions.repo.get(session_id)
            if session is not None:
                await sessions.revoke([session], reason="logout")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/sessions", response_model=list[SessionOut])
async def my_sessions(caller: SignedIn, sessions: SessionsDep) -> list[SessionOut]:
    """The caller's live sign-ins: when, where from (as recorded), the current one marked."""
    rows = await sessions.repo.active_for_user(caller.user.id, datetime.now(UTC))
    return [
        SessionOut.model_validate(r, from_attributes=True).model_copy(
            update={"current": r.id == caller.principal.sid}
        )
        for r in rows
    ]


@router.delete(
    "/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(404)
)
async def revoke_session(
    session_id: uuid.UUID, caller: SignedIn, sessions: SessionsDep
) -> Response:
    """Sign out one of the caller's sessions; its tokens stop working at the gateway too."""
    session = await sessions.repo.get(session_id)
    if session is None or session.user_id != caller.user.id:
        raise NotFound("No session of yours with this id")
    await sessions.revoke([session], reason="revoked-by-user")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
