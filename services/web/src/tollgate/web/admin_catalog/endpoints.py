"""The admin console's plans and usage: edit a plan of the catalog (price shown,
monthly allocation, limits, allowed models) and read usage across every account.

The console hides these pages from everyone but admins; the API refuses a
non-admin's calls whatever the page does.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from tollgate.web.admin.endpoints import ADMIN_ROLES
from tollgate.web.api import Api, Refused
from tollgate.web.pages import ApiDep, Checked, PageSession, redirect, render, sign_in_first
from tollgate.web.sessions import WebSession

router = APIRouter(prefix="/admin", include_in_schema=False)

WholeNumber = Annotated[str, Form(max_length=15)]
LIMITS = ("requests_per_minute", "llm_requests_per_minute", "tokens_per_minute")


def _refuse_unless_admin(request: Request, session: WebSession) -> Response | None:
    if not session.signed_in:
        return sign_in_first(request)
    if (session.user or {}).get("role") not in ADMIN_ROLES:
        return render(request, "errors/not_found.html", status_code=404)
    return None


async def _plan(api: Api, session: WebSession, code: str) -> dict[str, Any]:
    for plan in await api.json(session, "/api/subscriptions/plans"):
        if plan["code"] == code:
            return dict(plan)
    raise Refused(404, f"There is no plan called {code!r}")


def _count(label: str, raw: str, *, optional: bool = False) -> int | None:
    text = raw.strip().replace(",", "").replace("_", "")
    if not text and optional:
        return None
    if not text.isdigit():
        raise Refused(400, f"{label} must be a whole number{' or empty' if optional else ''}")
    return int(text)


def _plan_change(
    name: str,
    price: str,
    monthly_tokens: str,
    limits: dict[str, str],
    daily_requests: str,
    allowed_models: str,
    features: str,
) -> dict[str, Any]:
    """The API's plan change from the form, or ``Refused`` saying which field is wrong."""
    try:
        amount = Decimal(price.strip())
    except InvalidOperation:
        raise Refused(400, "The price must be an amount such as 20.00") from None
    if not amount.is_finite() or amount < 0 or amount != round(amount, 2):
        raise Refused(400, "The price must be an amount such as 20.00")
    models = [m.strip() for m in allowed_models.replace("\n", ",").split(",") if m.strip()]
    if not models:
        raise Refused(400, "Name at least one allowed model, or * for every model")
    return {
        "name": name.strip(),
        "price": float(amount),  # a JSON number, as the API wants; two decimals at most
        "monthly_tokens": _count("The monthly allocation", monthly_tokens),
        "limits": {
            **{key: _count(key.replace("_", " ").capitalize(), limits[key]) for key in LIMITS},
            "daily_requests": _count("Daily requests", daily_requests, optional=True),
            "allowed_models": models,
        },
        "features": [line.strip() for line in features.splitlines() if line.strip()],
    }


@router.get("/plans")
async def plans(request: Request, session: PageSession, api: ApiDep) -> Response:
    if (elsewhere := _refuse_unless_admin(request, session)) is not None:
        return elsewhere
    catalog = await api.json(session, "/api/subscriptions/plans")
    return render(request, "admin_catalog/plans.html", {"plans": catalog})


@router.get("/plans/{code}")
async def plan_form(request: Request, code: str, session: PageSession, api: ApiDep) -> Response:
    if (elsewhere := _refuse_unless_admin(request, session)) is not None:
        return elsewhere
    plan = await _plan(api, session, code)
    return render(request, "admin_catalog/plan.html", {"plan": plan, "form": None})


@router.post("/plans/{code}")
async def edit_plan(
    request: Request,
    code: str,
    session: Checked,
    api: ApiDep,
    name: Annotated[str, Form(min_length=1, max_length=100)],
    price: Annotated[str, Form(max_length=20)],
    monthly_tokens: WholeNumber,
    requests_per_minute: WholeNumber,
    llm_requests_per_minute: WholeNumber,
    tokens_per_minute: WholeNumber,
    allowed_models: Annotated[str, Form(max_length=4000)],
    daily_requests: WholeNumber = "",
    features: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    if (elsewhere := _refuse_unless_admin(request, session)) is not None:
        return elsewhere
    form = {
        "name": name,
        "price": price,
        "monthly_tokens": monthly_tokens,
        "requests_per_minute": requests_per_minute,
        "llm_requests_per_minute": llm_requests_per_minute,
        "tokens_per_minute": tokens_per_minute,
        "daily_requests": daily_requests,
        "allowed_models": allowed_models,
        "features": features,
    }
    try:
        change = _plan_change(
            name, price, monthly_tokens, form, daily_requests, allowed_models, features
        )
        await api.call(session, "PUT", f"/api/admin/plans/{code}", json=change)
    except Refused as refused:
        plan = await _plan(api, session, code)
        context = {"plan": plan, "form": form, "error": refused.detail}
        return render(request, "admin_catalog/plan.html", context, status_code=refused.status)
    session.notify(f"The {name} plan is saved; subscribers get it at their next change.")
    return redirect("/admin/plans")


@router.get("/usage")
async def usage(
    request: Request,
    session: PageSession,
    api: ApiDep,
    start: Annotated[date | None, Query()] = None,
    end: Annotated[date | None, Query()] = None,
) -> Response:
    if (elsewhere := _refuse_unless_admin(request, session)) is not None:
        return elsewhere
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=29)
    params = {"start": start.isoformat(), "end": end.isoformat(), "top": 50}
    stats, users = await asyncio.gather(
        api.json(session, "/api/admin/usage-stats", params=params),
        api.json(session, "/api/admin/users", params={"limit": 200}),
    )
    emails = {u["id"]: u["email"] for u in users}
    return render(request, "admin_catalog/usage.html", {"stats": stats, "emails": emails})
