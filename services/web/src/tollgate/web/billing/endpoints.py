"""Billing: plans from the live catalog, Checkout, the portal, cancel and resume,
invoices and payments, and the pages Stripe sends people back to."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from tollgate.web.api import Refused
from tollgate.web.pages import ApiDep, Checked, PageSession, redirect, render, sign_in_first
from tollgate.web.security import csp_leaving_for

router = APIRouter(include_in_schema=False)

PlanCode = Annotated[str, Form(min_length=1, max_length=40)]
Interval = Annotated[Literal["month", "year"], Form()]
# Statuses in which Stripe could not take the money: the person must act.
PAYMENT_TROUBLE = frozenset({"past_due", "unpaid", "incomplete", "incomplete_expired"})


def _leaving(request: Request) -> dict[str, str]:
    # Stripe is https; the local stand-ins of development and tests are plain http.
    settings = request.app.state.settings
    return (
        csp_leaving_for("https:")
        if settings.env == "production"
        else csp_leaving_for("https:", "http:")
    )


async def _billing_page(
    request: Request, session: PageSession, api: ApiDep, status_code: int = 200, **extra: Any
) -> Response:
    current, plans, invoices, payments = await asyncio.gather(
        api.json(session, "/api/subscriptions/current"),
        api.json(session, "/api/subscriptions/plans"),
        api.json(session, "/api/billing/invoices"),
        api.json(session, "/api/billing/payments"),
    )
    context = {
        "current": current,
        "plans": plans,
        "invoices": invoices["items"],
        "payments": payments["items"],
        "trouble": current["status"] in PAYMENT_TROUBLE,
        **extra,
    }
    return render(request, "billing/billing.html", context, status_code, headers=_leaving(request))


@router.get("/billing")
async def billing(request: Request, session: PageSession, api: ApiDep) -> Response:
    if not session.signed_in:
        return sign_in_first(request)
    return await _billing_page(request, session, api)


@router.post("/billing/checkout")
async def checkout(
    request: Request,
    session: Checked,
    api: ApiDep,
    plan: PlanCode,
    interval: Interval = "month",
    trial: Annotated[bool, Form()] = False,
) -> Response:
    """Start a paid plan (monthly or yearly, or its free trial): Stripe Checkout, or at once
    when a card is already saved."""
    body = {"plan": plan, "interval": interval, "trial": trial}
    try:
        answer = (await api.call(session, "POST", "/api/subscriptions/subscribe", json=body)).json()
    except Refused as refused:
        return await _billing_page(request, session, api, refused.status, error=refused.detail)
    if answer.get("checkout"):
        return RedirectResponse(answer["checkout"]["checkout_url"], status_code=303)
    return redirect("/billing/success")


@router.post("/billing/change")
async def change_plan(request: Request, session: Checked, api: ApiDep, plan: PlanCode) -> Response:
    try:
        await api.call(session, "PUT", "/api/subscriptions/upgrade", json={"plan": plan})
    except Refused as refused:
        return await _billing_page(request, session, api, refused.status, error=refused.detail)
    session.notify("Your plan change is saved: an upgrade now, a downgrade at the period's end.")
    return redirect("/billing")


@router.post("/billing/portal")
async def portal(request: Request, session: Checked, api: ApiDep) -> Response:
    try:
        answer = (await api.call(session, "POST", "/api/billing/portal", json={})).json()
    except Refused as refused:
        return await _billing_page(request, session, api, refused.status, error=refused.detail)
    return RedirectResponse(answer["url"], status_code=303)


@router.post("/billing/cancel-plan")
async def cancel(request: Request, session: Checked, api: ApiDep) -> Response:
    try:
        await api.call(session, "POST", "/api/subscriptions/cancel", json={})
    except Refused as refused:
        return await _billing_page(request, session, api, refused.status, error=refused.detail)
    session.notify("Your plan is cancelled: it stays until the end of the period you paid for.")
    return redirect("/billing")


@router.post("/billing/resume")
async def resume(request: Request, session: Checked, api: ApiDep) -> Response:
    try:
        await api.call(session, "POST", "/api/subscriptions/resume", json={})
    except Refused as refused:
        return await _billing_page(request, session, api, refused.status, error=refused.detail)
    session.notify("Your plan continues; nothing else changes.")
    return redirect("/billing")


@router.get("/billing/success")
async def success(request: Request, session: PageSession, api: ApiDep) -> Response:
    """Where Checkout sends a person who paid; "processing" until Stripe's webhook lands."""
    if not session.signed_in:
        return sign_in_first(request)
    current = await api.json(session, "/api/subscriptions/current")
    processing = current["billed_by"] != "stripe"
    response = render(
        request, "billing/success.html", {"current": current, "processing": processing}
    )
    if processing:
        # Reload until the webhook has landed; a header, so no script is needed.
        response.headers["Refresh"] = "2"
    return response


@router.get("/billing/cancel")
async def checkout_cancelled(request: Request, session: PageSession) -> Response:
    """Where Checkout sends a person who turned back: nothing was charged."""
    return render(request, "billing/cancelled.html")
