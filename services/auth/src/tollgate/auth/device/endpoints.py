from __future__ import annotations

import html
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Response, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from tollgate.auth.accounts.schemas import LoginResponse
from tollgate.auth.accounts.service import Accounts, user_out
from tollgate.auth.deps import Client, PasswordsDep, SessionsDep, SettingsDep, SignedIn, ThrottleDep
from tollgate.auth.device.service import DeviceGrant, DeviceGrantError
from tollgate.shared.db import SessionDep
from tollgate.shared.errors import TollgateError
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
    page = f"{settings.public_url.rstrip('/')}/api/auth/device"
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
    return LoginResponse(
        **pair.model_dump(), user=await user_out(db, user), api_endpoint=settings.public_url
    )


@router.post("/approve", status_code=status.HTTP_204_NO_CONTENT)
async def approve_signed_in(body: Approval, caller: SignedIn, db: SessionDep) -> Response:
    """Approve (or deny) a device's code as the signed-in user."""
    await DeviceGrant(db).decide(body.user_code, caller.user, body.approve)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tollgate: sign in a device</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}
label{{display:block;margin:.8rem 0 .2rem}}input{{width:100%;padding:.5rem;font-size:1rem}}
button{{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem}}
.msg{{padding:.6rem;background:#eef}}</style>
</head><body><h1>Sign in a device</h1>{message}
<form method="post">
<label for="user_code">Code shown on the device</label>
<input id="user_code" name="user_code" value="{user_code}" autocomplete="off" required>
<label for="email">Email</label><input id="email" name="email" type="email" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" required>
<button name="action" value="approve">Approve</button>
<button name="action" value="deny">Deny</button>
</form></body></html>"""


def page(user_code: str = "", message: str = "", status_code: int = 200) -> HTMLResponse:
    note = f'<p class="msg">{html.escape(message)}</p>' if message else ""
    body = PAGE.format(message=note, user_code=html.escape(user_code))
    return HTMLResponse(
        body,
        status_code=status_code,
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        },
    )


@router.get("", response_class=HTMLResponse, include_in_schema=False)
async def verification_page(
    user_code: Annotated[str, Query(max_length=16)] = "",
) -> HTMLResponse:
    return page(user_code)


@router.post("", response_class=HTMLResponse, include_in_schema=False)
async def verification_submit(
    user_code: Annotated[str, Form(max_length=16)],
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    action: Annotated[Literal["approve", "deny"], Form()],
    db: SessionDep,
    passwords: PasswordsDep,
    throttle: ThrottleDep,
    client: Client,
) -> HTMLResponse:
    try:
        user = await Accounts(db, passwords).authenticate(email, password, throttle, client.ip)
        await DeviceGrant(db).decide(user_code, user, action == "approve")
    except TollgateError as refused:
        return page(user_code, refused.detail, refused.status_code)
    done = (
        "The device is signed in; you can close this page."
        if action == "approve"
        else ("The request was denied.")
    )
    return page("", done)
