"""The admin console (admin roles only): users, their role, plan and access; an
account's payments with refunds; revenue by month."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from tollgate.web.api import Refused
from tollgate.web.charts import revenue_by_month
from tollgate.web.pages import ApiDep, Checked, PageSession, redirect, render, sign_in_first
from tollgate.web.sessions import WebSession

router = APIRouter(prefix="/admin", include_in_schema=False)

ADMIN_ROLES = frozenset({"admin", "superadmin"})
Role = Literal["user", "developer", "admin", "superadmin"]


def _is_admin(session: WebSession) -> bool:
    # Only hides the console from others: the API itself refuses a non-admin's calls.
    return session.signed_in and (session.user or {}).get("role") in ADMIN_ROLES


def _back(q: str) -> Response:
    return redirect(f"/admin?q={q}" if q else "/admin")


@router.get("")
async def console(
    request: Request,
    session: PageSession,
    api: ApiDep,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    if not session.signed_in:
        return sign_in_first(request)
    if not _is_admin(session):
        return render(request, "errors/not_found.html", status_code=404)
    users, revenue, plans = await asyncio.gather(
        api.json(session, "/api/admin/users", params={"q": q} if q else {}),
        api.json(session, "/api/admin/revenue"),
        api.json(session, "/api/subscriptions/plans"),
    )
    context = {
        "q": q,
        "users": users,
        "revenue": revenue,
        "plans": plans,
        "chart": revenue_by_month(revenue["revenue_by_month"]),
    }
    return render(request, "admin/console.html", context)


@router.post("/users/{user_id}")
async def change_user(
    user_id: uuid.UUID,
    session: Checked,
    api: ApiDep,
    q: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[Role | None, Form()] = None,
    active: Annotated[Literal["yes", "no"] | None, Form()] = None,
) -> Response:
    body: dict[str, Any] = {}
    if role is not None:
        body["role"] = role
    if active is not None:
        body["is_active"] = active == "yes"
    changed = (await api.call(session, "PUT", f"/api/admin/users/{user_id}", json=body)).json()
    state = "enabled" if changed["is_active"] else "disabled (and signed out)"
    session.notify(f"{changed['email']}: {changed['role']}, {state}.")
    return _back(q)


@router.post("/users/{user_id}/plan")
async def change_plan(
    user_id: uuid.UUID,
    session: Checked,
    api: ApiDep,
    plan: Annotated[str, Form(min_length=1, max_length=40)],
    q: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    await api.call(session, "PUT", f"/api/admin/users/{user_id}/plan", json={"plan": plan})
    session.notify(f"The plan is now {plan}.")
    return _back(q)


async def _payments_page(
    request: Request,
    session: WebSession,
    api: ApiDep,
    account_id: uuid.UUID,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    payments = await api.json(
        session, "/api/admin/payments", params={"account_id": str(account_id)}
    )
    context = {"account_id": account_id, "payments": payments["items"], **extra}
    return render(request, "admin/payments.html", context, status_code)


@router.get("/accounts/{account_id}/payments")
async def payments(
    request: Request, account_id: uuid.UUID, session: PageSession, api: ApiDep
) -> Response:
    if not session.signed_in:
        return sign_in_first(request)
    if not _is_admin(session):
        return render(request, "errors/not_found.html", status_code=404)
    return await _payments_page(request, session, api, account_id)


@router.post("/accounts/{account_id}/payments/{payment_id}/refund")
async def refund(
    request: Request,
    account_id: uuid.UUID,
    payment_id: str,
    session: Checked,
    api: ApiDep,
    amount: Annotated[str, Form(max_length=20)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """A refund, whole (no amount) or partial (an amount in the payment's currency)."""
    cents: int | None = None
    if amount.strip():
        try:
            cents = int((Decimal(amount.strip()) * 100).to_integral_exact())
        except (InvalidOperation, ArithmeticError):
            cents = 0
        if cents <= 0:
            return await _payments_page(
                request, session, api, account_id, status_code=400,
                error="Give the amount to refund as a positive number, like 5.00.",
            )  # fmt: skip
    if confirm != "yes":
        return await _payments_page(
            request, session, api, account_id, status_code=400,
            error="Tick the box to confirm the refund; nothing was refunded.",
        )  # fmt: skip
    body = {"amount": cents} if cents is not None else {}
    try:
        done = (
            await api.call(
                session,
                "POST",
                f"/api/admin/payments/{payment_id}/refund",
                json=body,
                headers={"Idempotency-Key": f"web-{session.csrf_token[:16]}-{payment_id}-{cents}"},
            )
        ).json()
    except Refused as refused:
        return await _payments_page(
            request, session, api, account_id, status_code=refused.status, error=refused.detail
        )
    session.notify(f"Refunded {done['currency'].upper()} {Decimal(done['amount']) / 100:.2f}.")
    return redirect(f"/admin/accounts/{account_id}/payments")
