"""Promotion codes: a person redeems one (``/promotions``); admins create, list and
withdraw them (``/admin/promotion-codes``, 404 for anyone else)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from tollgate.web.api import Api, Refused
from tollgate.web.pages import ApiDep, Checked, PageSession, redirect, render, sign_in_first
from tollgate.web.sessions import WebSession

router = APIRouter(include_in_schema=False)

ADMIN_ROLES = frozenset({"admin", "superadmin"})
CODES = "/admin/promotion-codes"


def _is_admin(session: WebSession) -> bool:
    # Only hides the page from others: the API itself refuses a non-admin's calls.
    return session.signed_in and (session.user or {}).get("role") in ADMIN_ROLES


def _whole(raw: str, what: str) -> int:
    text = raw.strip().replace(",", "").replace("_", "")
    if not text.isdigit():
        raise Refused(400, f"Give {what} as a whole number")
    return int(text)


def _end_of(day: str) -> str:
    """The code's end: the end of the chosen day, UTC."""
    try:
        chosen = datetime.combine(datetime.fromisoformat(day).date(), time(), tzinfo=UTC)
    except ValueError:
        raise Refused(400, "Choose the last day the code works") from None
    return (chosen + timedelta(days=1) - timedelta(seconds=1)).isoformat()


@router.get("/promotions")
async def redeem_form(request: Request, session: PageSession) -> Response:
    if not session.signed_in:
        return sign_in_first(request)
    return render(request, "promotions/redeem.html")


@router.post("/promotions")
async def redeem(
    request: Request,
    session: Checked,
    api: ApiDep,
    code: Annotated[str, Form(max_length=80)],
) -> Response:
    try:
        answer = await api.call(session, "POST", "/api/promotions/redeem", json={"code": code})
    except Refused as refused:
        context = {"error": refused.detail, "code": code}
        return render(request, "promotions/redeem.html", context, refused.status)
    redeemed = answer.json()
    session.notify(f"{redeemed['credits']:,} credits were added to your balance.")
    return redirect("/usage")


async def _codes_page(
    request: Request, session: WebSession, api: Api, status_code: int = 200, **extra: Any
) -> Response:
    codes = await api.json(session, "/api/admin/promotion-codes")
    context = {"codes": codes["items"], **extra}
    return render(request, "promotions/codes.html", context, status_code)


@router.get(CODES)
async def codes(request: Request, session: PageSession, api: ApiDep) -> Response:
    if not session.signed_in:
        return sign_in_first(request)
    if not _is_admin(session):
        return render(request, "errors/not_found.html", status_code=404)
    return await _codes_page(request, session, api)


@router.post(CODES)
async def create(
    request: Request,
    session: Checked,
    api: ApiDep,
    credits: Annotated[str, Form(max_length=20)],
    max_redemptions: Annotated[str, Form(max_length=20)],
    last_day: Annotated[str, Form(max_length=10)],
    code: Annotated[str, Form(max_length=80)] = "",
    grant_valid_days: Annotated[str, Form(max_length=5)] = "",
    description: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    form = {
        "code": code,
        "credits": credits,
        "max_redemptions": max_redemptions,
        "last_day": last_day,
        "grant_valid_days": grant_valid_days,
        "description": description,
    }
    try:
        body: dict[str, Any] = {
            "code": code.strip() or None,
            "credits": _whole(credits, "the credits"),
            "max_redemptions": _whole(max_redemptions, "the number of redemptions"),
            "expires_at": _end_of(last_day),
            "description": description.strip() or None,
        }
        if grant_valid_days.strip():
            body["grant_valid_days"] = _whole(grant_valid_days, "the days the credits last")
        made = (await api.call(session, "POST", "/api/admin/promotion-codes", json=body)).json()
    except Refused as refused:
        return await _codes_page(
            request, session, api, refused.status, error=refused.detail, form=form
        )
    session.notify(f"Code {made['code']} is ready.")
    return redirect(CODES)


@router.post(CODES + "/{code_id}/deactivate")
async def deactivate(
    request: Request, code_id: uuid.UUID, session: Checked, api: ApiDep
) -> Response:
    try:
        await api.call(session, "POST", f"/api/admin/promotion-codes/{code_id}/deactivate")
    except Refused as refused:
        return await _codes_page(request, session, api, refused.status, error=refused.detail)
    session.notify("The code was withdrawn; credits already granted stay.")
    return redirect(CODES)
