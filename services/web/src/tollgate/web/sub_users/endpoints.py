"""Sub-users (for a parent account): create one with its own sign-in, cap it, disable it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from tollgate.web.api import Api, Refused
from tollgate.web.member_usage.endpoints import usage_by_member
from tollgate.web.pages import ApiDep, Checked, PageSession, redirect, render, sign_in_first
from tollgate.web.sessions import WebSession

router = APIRouter(prefix="/sub-users", include_in_schema=False)

Limit = Annotated[str, Form(max_length=15)]


def _limit(raw: str) -> int | None:
    """Tokens a month from the form: empty means no cap."""
    text = raw.strip().replace(",", "").replace("_", "")
    if not text:
        return None
    if not text.isdigit():
        raise Refused(400, "Give the monthly cap as a whole number of tokens, or leave it empty")
    return int(text)


async def _page(
    request: Request, session: WebSession, api: Api, status_code: int = 200, **extra: Any
) -> Response:
    sub_users, usage = await asyncio.gather(
        api.json(session, "/api/sub-users"), usage_by_member(api, session)
    )
    context = {"sub_users": sub_users, "usage": usage, **extra}
    return render(request, "sub_users/sub_users.html", context, status_code)


@router.get("")
async def sub_users(request: Request, session: PageSession, api: ApiDep) -> Response:
    if not session.signed_in:
        return sign_in_first(request)
    return await _page(request, session, api)


@router.post("")
async def create(
    request: Request,
    session: Checked,
    api: ApiDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    name: Annotated[str, Form(max_length=200)] = "",
    token_limit: Limit = "",
) -> Response:
    body: dict[str, Any] = {"email": email, "password": password, "name": name or None}
    try:
        body["token_limit"] = _limit(token_limit)
        await api.call(session, "POST", "/api/sub-users", json=body)
    except Refused as refused:
        form = {"email": email, "name": name, "token_limit": token_limit}
        return await _page(request, session, api, refused.status, error=refused.detail, form=form)
    session.notify(f"{email} can now sign in and spend from your account.")
    return redirect("/sub-users")


@router.post("/{sub_user_id}")
async def change(
    request: Request,
    sub_user_id: uuid.UUID,
    session: Checked,
    api: ApiDep,
    token_limit: Annotated[str | None, Form(max_length=15)] = None,
    active: Annotated[Literal["yes", "no"] | None, Form()] = None,
) -> Response:
    body: dict[str, Any] = {}
    try:
        if token_limit is not None:
            limit = _limit(token_limit)
            body = {"token_limit": limit} if limit is not None else {"clear_token_limit": True}
        if active is not None:
            body["is_active"] = active == "yes"
        await api.call(session, "PUT", f"/api/sub-users/{sub_user_id}", json=body)
    except Refused as refused:
        return await _page(request, session, api, refused.status, error=refused.detail)
    session.notify("Saved.")
    return redirect("/sub-users")
