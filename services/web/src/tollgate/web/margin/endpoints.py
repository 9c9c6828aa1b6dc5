"""The margin report (admin roles only): revenue against provider cost, per plan and model."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from tollgate.web.api import Refused
from tollgate.web.pages import ApiDep, PageSession, render, sign_in_first

router = APIRouter(prefix="/admin/margin", include_in_schema=False)

ADMIN_ROLES = frozenset({"admin", "superadmin"})


@router.get("")
async def margin(
    request: Request,
    session: PageSession,
    api: ApiDep,
    start: Annotated[date | None, Query()] = None,
    end: Annotated[date | None, Query()] = None,
) -> Response:
    if not session.signed_in:
        return sign_in_first(request)
    # Only hides the page from others: billing itself refuses a non-admin's report.
    if (session.user or {}).get("role") not in ADMIN_ROLES:
        return render(request, "errors/not_found.html", status_code=404)
    params = {k: v.isoformat() for k, v in (("start", start), ("end", end)) if v is not None}
    try:
        report = await api.json(session, "/api/admin/margin", params=params)
    except Refused as refused:
        context = {"report": None, "error": refused.detail, "start": start, "end": end}
        return render(request, "margin/report.html", context, status_code=400)
    context = {"report": report, "error": None, "start": report["start"], "end": report["end"]}
    return render(request, "margin/report.html", context)
