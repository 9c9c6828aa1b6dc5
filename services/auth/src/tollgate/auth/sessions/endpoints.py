from __future__ import annotations

from fastapi import APIRouter, Response, status

from tollgate.auth.accounts.schemas import TokenPair
from tollgate.auth.deps import SessionsDep, SignedIn
from tollgate.auth.sessions.schemas import LogoutRequest, RefreshRequest

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/refresh", response_model=TokenPair)
async def refresh(body: RefreshRequest, sessions: SessionsDep) -> TokenPair:
    """Exchange a refresh token for a new pair; each refresh token works once."""
    return await sessions.refresh(body.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    caller: SignedIn, sessions: SessionsDep, body: LogoutRequest | None = None
) -> Response:
    """Sign out this session, or every session with ``{"all": true}``."""
    if body is not None and body.all:
        await sessions.revoke_all(caller.user.id, reason="logout-all")
    elif caller.principal.sid is not None:
        session = await sessions.repo.get(caller.principal.sid)
        if session is not None:
            await sessions.revoke([session], reason="logout")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
