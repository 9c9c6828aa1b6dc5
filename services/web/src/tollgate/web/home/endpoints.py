"""The front door: a welcome for visitors, an overview for a signed-in person."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tollgate.web.pages import ApiDep, PageSession, render

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request, session: PageSession, api: ApiDep) -> Response:
    if not session.signed_in:
        return render(request, "home/welcome.html")
    me, balance = await asyncio.gather(
        api.json(session, "/api/auth/me"), api.json(session, "/api/tokens/balance")
    )
    session.user = me
    session.changed = True
    return render(request, "home/overview.html", {"me": me, "balance": balance})
