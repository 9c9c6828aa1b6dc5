from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from tollgate.auth.accounts.schemas import LoginResponse
from tollgate.auth.accounts.service import user_out
from tollgate.auth.deps import Client, PeersDep, SessionsDep, SettingsDep, SignedIn
from tollgate.auth.device.service import DeviceGrant, DeviceGrantError
from tollgate.shared.db import SessionDep
from tollgate.shared.openapi import problems

# An unknown or expired code, a grant still pending or refused: OAuth's device errors.
router = APIRouter(prefix="/api/auth/device", tags=["device"], responses=problems(400))

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class DeviceCodeOut(BaseModel):
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_code: str = Field(min_length=4, max_length=16)
    approve: bool = True


@router.post("/code", response_model=DeviceCodeOut)
async def device_code(db: SessionDep, settings: SettingsDep) -> DeviceCodeOut:
    """Start a device sign-in: show ``user_code`` and send the user to ``verification_uri``."""
    codes = await DeviceGrant(db).start(
        timedelta(seconds=settings.device_code_ttl_seconds),
        settings.device_poll_interval_seconds,
    )
    # The web app's page: the person signs in there (or already is) and approves.
    page = f"{settings.public_url.rstrip('/')}/device"
    return DeviceCodeOut(
        device_code=codes.device_code,
        user_code=codes.user_code,
        verification_uri=page,
        verification_uri_complete=f"{page}?user_code={codes.user_code}",
        expires_in=codes.expires_in,
        interval=codes.interval,
    )


@router.post("/token", response_model=LoginResponse)
async def device_token(
    grant_type: Annotated[str, Form(max_length=100)],
    device_code: Annotated[str, Form(max_length=200)],
    db: SessionDep,
    sessions: SessionsDep,
    client: Client,
    settings: SettingsDep,
    peers: PeersDep,
) -> LoginResponse:
    """Poll for the tokens of an approved device sign-in."""
    if grant_type != DEVICE_GRANT:
        raise DeviceGrantError("unsupported_grant_type", f"grant_type must be {DEVICE_GRANT}")
    try:
        user = await DeviceGrant(db).poll(device_code)
    except DeviceGrantError:
        await db.commit()  # the poll time and any slowed interval must stick
        raise
    _, pair = await sessions.start(user, client)
    out = await user_out(db, user)
    out.monthly_usage = await peers.monthly_usage(pair.access_token)
    return LoginResponse(**pair.model_dump(), user=out, api_endpoint=settings.public_url)


@router.post("/approve", status_code=status.HTTP_204_NO_CONTENT)
async def approve_signed_in(body: Approval, caller: SignedIn, db: SessionDep) -> Response:
    """Approve (or deny) a device's code as the signed-in user."""
    await DeviceGrant(db).decide(body.user_code, caller.user, body.approve)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("", include_in_schema=False)
async def verification_page(
    settings: SettingsDep, user_code: Annotated[str, Query(max_length=16)] = ""
) -> RedirectResponse:
    """The old bare page: the web app's device page took its place (links in the wild)."""
    target = f"{settings.public_url.rstrip('/')}/device"
    if user_code:
        target += "?" + urlencode({"user_code": user_code})
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
