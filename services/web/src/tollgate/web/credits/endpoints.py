"""Credits: the packs for sale and buying one through Checkout, the purchases made, and
auto top-up (a pack bought with the saved card when the balance runs low)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from tollgate.web.api import Refused
from tollgate.web.billing.endpoints import _leaving
from tollgate.web.pages import ApiDep, Checked, PageSession, redirect, render, sign_in_first

router = APIRouter(include_in_schema=False)

PackCode = Annotated[str, Form(min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$")]
# What Checkout's return says, shown once on arrival.
ARRIVALS = {
    "paid": "Thank you: your credits arrive as soon as the payment is confirmed.",
    "cancelled": "Nothing was charged.",
}


async def _credits_page(
    request: Request, session: PageSession, api: ApiDep, status_code: int = 200, **extra: Any
) -> Response:
    packs, purchases, auto, balance = await asyncio.gather(
        api.json(session, "/api/billing/credit-packs"),
        api.json(session, "/api/billing/purchases"),
        api.json(session, "/api/billing/auto-top-up"),
        api.json(session, "/api/tokens/balance"),
    )
    context = {
        "packs": packs,
        "purchases": purchases["items"],
        "auto": auto,
        "balance": balance,
        "arrival": ARRIVALS.get(request.query_params.get("checkout", "")),
        **extra,
    }
    return render(request, "credits/credits.html", context, status_code, headers=_leaving(request))


@router.get("/billing/credits")
async def credits(request: Request, session: PageSession, api: ApiDep) -> Response:
    if not session.signed_in:
        return sign_in_first(request)
    return await _credits_page(request, session, api)


@router.post("/billing/credits/buy")
async def buy(request: Request, session: Checked, api: ApiDep, pack: PackCode) -> Response:
    """Off to Stripe Checkout for the pack (the same page again if one is already open)."""
    try:
        answer = (
            await api.call(session, "POST", f"/api/billing/credit-packs/{pack}/checkout", json={})
        ).json()
    except Refused as refused:
        return await _credits_page(request, session, api, refused.status, error=refused.detail)
    return RedirectResponse(answer["checkout_url"], status_code=303)


@router.post("/billing/credits/auto-top-up")
async def auto_top_up(
    request: Request,
    session: Checked,
    api: ApiDep,
    pack: PackCode,
    threshold: Annotated[int, Form(ge=1, le=1_000_000_000_000)],
    enabled: Annotated[str | None, Form()] = None,
) -> Response:
    body = {"enabled": enabled == "yes", "threshold": threshold, "pack_code": pack}
    try:
        await api.call(session, "PUT", "/api/billing/auto-top-up", json=body)
    except Refused as refused:
        return await _credits_page(request, session, api, refused.status, error=refused.detail)
    session.notify("Auto top-up is on." if body["enabled"] else "Auto top-up is off.")
    return redirect("/billing/credits")
