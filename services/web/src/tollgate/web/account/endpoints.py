"""The person's own account: profile, password, time zone, sessions, deletion."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated
from zoneinfo import available_timezones

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from tollgate.web.api import Refused
from tollgate.web.pages import (
    TIME_ZONE_COOKIE,
    ApiDep,
    Checked,
    PageSession,
    redirect,
    render,
    sign_in_first,
)

router = APIRouter(include_in_schema=False)

Password = Annotated[str, Form(max_length=1024)]
TIME_ZONES = sorted(available_timezones())


async def _account_page(
    request: Request, session: PageSession, api: ApiDep, status_code: int = 200, **extra: object
) -> Response:
    me, sign_ins = await asyncio.gather(
        api.json(session, "/api/users/profile"), api.json(session, "/api/auth/sessions")
    )
    session.user = me
    session.changed = True
    context = {"me": me, "sign_ins": sign_ins, "time_zones": TIME_ZONES, **extra}
    return render(request, "account/account.html", context, status_code=status_code)


@router.get("/account")
async def account(request: Request, session: PageSession, api: ApiDep) -> Response:
    if not session.signed_in:
        return sign_in_first(request)
    return await _account_page(request, session, api)


@router.post("/account/profile")
async def update_profile(
    request: Request, session: Checked, api: ApiDep, name: Annotated[str, Form(max_length=200)]
) -> Response:
    try:
        await api.call(session, "PUT", "/api/users/profile", json={"name": name})
    except Refused as refused:
        return await _account_page(
            request, session, api, status_code=refused.status, profile_error=refused.detail
        )
    session.notify("Your name is saved.")
    return redirect("/account")


@router.post("/account/password")
async def change_password(
    request: Request,
    session: Checked,
    api: ApiDep,
    current_password: Password,
    new_password: Password,
) -> Response:
    body = {"current_password": current_password, "new_password": new_password}
    try:
        await api.call(session, "POST", "/api/auth/password/change", json=body)
    except Refused as refused:
        return await _account_page(
            request, session, api, status_code=400, password_error=refused.detail
        )
    session.notify("Your password is changed; your other devices were signed out.")
    return redirect("/account")


@router.post("/account/time-zone")
async def set_time_zone(
    session: Checked, time_zone: Annotated[str, Form(max_length=64)]
) -> Response:
    response = redirect("/account")
    if time_zone in TIME_ZONES:
        # A cookie, not the session: the browser's own script sets the same one.
        response.set_cookie(TIME_ZONE_COOKIE, time_zone, max_age=365 * 86400, samesite="lax")
        session.notify(f"Times are now shown in {time_zone}.")
    return response


@router.post("/account/sessions/{session_id}/revoke")
async def revoke_session(session_id: uuid.UUID, session: Checked, api: ApiDep) -> Response:
    """Sign out one device; this browser's own session ends like a sign-out."""
    current = [s for s in await api.json(session, "/api/auth/sessions") if s["current"]]
    await api.call(session, "DELETE", f"/api/auth/sessions/{session_id}")
    if current and current[0]["id"] == str(session_id):
        session.sign_out()
        return redirect("/sign-in")
    session.notify("That device is signed out; its tokens no longer work.")
    return redirect("/account")


@router.post("/account/sign-out-everywhere")
async def sign_out_everywhere(session: Checked, api: ApiDep) -> Response:
    await api.call(
        session,
        "POST",
        "/api/auth/logout",
        json={"refresh_token": session.refresh_token, "all": True},
    )
    session.sign_out()
    return redirect("/sign-in")


@router.get("/account/delete")
async def delete_page(request: Request, session: PageSession) -> Response:
    if not session.signed_in:
        return sign_in_first(request)
    return render(request, "account/delete.html")


@router.post("/account/delete")
async def delete_account(
    request: Request,
    session: Checked,
    api: ApiDep,
    password: Password,
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    if confirm != "yes":
        return render(
            request,
            "account/delete.html",
            {"error": "Tick the box to confirm that you want your account deleted."},
            status_code=400,
        )
    try:
        await api.call(session, "DELETE", "/api/users/account", json={"password": password})
    except Refused as refused:
        return render(
            request, "account/delete.html", {"error": refused.detail}, status_code=refused.status
        )
    session.sign_out()
    return render(request, "account/deleted.html")
