"""Device approval: the extension shows a code, the person approves it here."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from tollgate.web.api import Refused
from tollgate.web.pages import ApiDep, Checked, PageSession, render, sign_in_first

router = APIRouter(include_in_schema=False)


@router.get("/device")
async def device_page(
    request: Request,
    session: PageSession,
    user_code: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    if not session.signed_in:
        return sign_in_first(request)
    return render(request, "device/approve.html", {"user_code": user_code})


@router.post("/device")
async def decide(
    request: Request,
    session: Checked,
    api: ApiDep,
    user_code: Annotated[str, Form(max_length=16)],
    action: Annotated[Literal["approve", "deny"], Form()],
) -> Response:
    approve = action == "approve"
    try:
        await api.call(
            session,
            "POST",
            "/api/auth/device/approve",
            json={"user_code": user_code, "approve": approve},
        )
    except Refused as refused:
        return render(
            request,
            "device/approve.html",
            {"user_code": user_code, "error": refused.detail},
            status_code=400,
        )
    return render(request, "device/done.html", {"approved": approve})
