"""The organization: members and roles, invitations (send, withdraw, accept), caps."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from tollgate.web.api import Api, Refused
from tollgate.web.member_usage.endpoints import usage_by_member
from tollgate.web.pages import ApiDep, Checked, PageSession, redirect, render, sign_in_first
from tollgate.web.sessions import WebSession

router = APIRouter(include_in_schema=False)

MANAGERS = frozenset({"owner", "admin"})


async def _organization_of(api: Api, session: WebSession) -> dict[str, Any] | None:
    organizations = await api.json(session, "/api/organizations")
    return organizations[0] if organizations else None


async def _page(
    request: Request, session: WebSession, api: Api, status_code: int = 200, **extra: Any
) -> Response:
    org = await _organization_of(api, session)
    context: dict[str, Any] = {"org": org, **extra}
    if org is not None:
        base = f"/api/organizations/{org['id']}"
        manages = org["role"] in MANAGERS
        members, invitations, usage = await asyncio.gather(
            api.json(session, f"{base}/members"),
            api.json(session, f"{base}/invitations") if manages else _nothing(),
            usage_by_member(api, session) if manages else _no_usage(),
        )
        context |= {
            "members": members,
            "invitations": invitations,
            "manages": manages,
            "usage": usage,
        }
    return render(request, "organization/organization.html", context, status_code)


async def _nothing() -> list[Any]:
    return []


async def _no_usage() -> dict[str, Any]:
    return {}


async def _managed(api: Api, session: WebSession) -> dict[str, Any]:
    org = await _organization_of(api, session)
    if org is None or org["role"] not in MANAGERS:
        raise Refused(404, "No organization of yours to manage")
    return org


@router.get("/organization")
async def organization(request: Request, session: PageSession, api: ApiDep) -> Response:
    if not session.signed_in:
        return sign_in_first(request)
    return await _page(request, session, api)


@router.post("/organization")
async def create(
    request: Request,
    session: Checked,
    api: ApiDep,
    name: Annotated[str, Form(min_length=1, max_length=200)],
) -> Response:
    try:
        await api.call(session, "POST", "/api/organizations", json={"name": name})
    except Refused as refused:
        return await _page(request, session, api, refused.status, error=refused.detail)
    await api.refresh(session)  # the new tokens carry the organization
    session.notify(f"{name} is created; you are its owner.")
    return redirect("/organization")


@router.post("/organization/invitations")
async def invite(
    request: Request,
    session: Checked,
    api: ApiDep,
    email: Annotated[str, Form(max_length=320)],
    role: Annotated[Literal["member", "admin"], Form()] = "member",
) -> Response:
    org = await _managed(api, session)
    try:
        await api.call(
            session,
            "POST",
            f"/api/organizations/{org['id']}/invitations",
            json={"email": email, "role": role},
        )
    except Refused as refused:
        return await _page(request, session, api, refused.status, invite_error=refused.detail)
    session.notify(f"An invitation is on its way to {email}.")
    return redirect("/organization")


@router.post("/organization/invitations/{invitation_id}/withdraw")
async def withdraw(invitation_id: uuid.UUID, session: Checked, api: ApiDep) -> Response:
    org = await _managed(api, session)
    await api.call(session, "DELETE", f"/api/organizations/{org['id']}/invitations/{invitation_id}")
    session.notify("The invitation is withdrawn; its link no longer works.")
    return redirect("/organization")


@router.post("/organization/members/{user_id}/cap")
async def set_cap(
    request: Request,
    user_id: uuid.UUID,
    session: Checked,
    api: ApiDep,
    cap_tokens: Annotated[int, Form(ge=0, le=10**12)],
) -> Response:
    await _managed(api, session)
    try:
        await api.call(
            session, "PUT", f"/api/tokens/caps/{user_id}", json={"cap_tokens": cap_tokens}
        )
    except Refused as refused:
        return await _page(request, session, api, refused.status, error=refused.detail)
    session.notify(f"The member may now spend {cap_tokens:,} tokens a period.")
    return redirect("/organization")


@router.post("/organization/members/{user_id}/remove")
async def remove(user_id: uuid.UUID, session: Checked, api: ApiDep) -> Response:
    org = await _managed(api, session)
    await api.call(session, "DELETE", f"/api/organizations/{org['id']}/members/{user_id}")
    session.notify("The member is removed and spends from their own account again.")
    return redirect("/organization")


@router.get("/invitations/accept")
async def invitation_page(
    request: Request, session: PageSession, token: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    if not session.signed_in:
        return sign_in_first(request)
    return render(request, "organization/accept.html", {"token": token})


@router.post("/invitations/accept")
async def accept(
    request: Request,
    session: Checked,
    api: ApiDep,
    token: Annotated[str, Form(max_length=200)],
) -> Response:
    try:
        joined = (
            await api.call(
                session, "POST", "/api/organizations/invitations/accept", json={"token": token}
            )
        ).json()
    except Refused as refused:
        return render(
            request,
            "signing_in/link_failed.html",
            {"what": "invitation", "detail": refused.detail},
            status_code=400,
        )
    await api.refresh(session)  # the new tokens spend from the organization's pool
    session.notify(f"You joined {joined['name']}.")
    return redirect("/organization")
