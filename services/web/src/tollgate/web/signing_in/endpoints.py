"""Sign up, sign in, sign out, confirm an address, forgot and reset a password."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from tollgate.web.api import ApiError, Refused
from tollgate.web.navigation import safe_next
from tollgate.web.pages import ApiDep, Checked, PageSession, redirect, render

router = APIRouter(include_in_schema=False)

Email = Annotated[str, Form(max_length=320)]
Password = Annotated[str, Form(max_length=1024)]
Next = Annotated[str, Form(max_length=2000)]
Token = Annotated[str, Query(max_length=200)]


def _client_of(request: Request) -> dict[str, str]:
    """The person's browser, so the session auth records says what it is."""
    return {"User-Agent": request.headers.get("user-agent", "")[:300]}


@router.get("/sign-up")
async def sign_up_page(
    request: Request, session: PageSession, next: Annotated[str, Query(max_length=2000)] = "/"
) -> Response:
    if session.signed_in:
        return redirect(safe_next(next))
    return render(request, "signing_in/sign_up.html", {"form": {}, "next": safe_next(next)})


@router.post("/sign-up")
async def sign_up(
    request: Request,
    session: Checked,
    api: ApiDep,
    email: Email,
    password: Password,
    name: Annotated[str, Form(max_length=200)] = "",
    next: Next = "/",
) -> Response:
    body = {"email": email, "password": password, "name": name or None}
    try:
        answer = await api.public(
            "POST", "/api/auth/register", json=body, headers=_client_of(request)
        )
    except Refused as refused:
        form = {"email": email, "name": name}
        return render(
            request,
            "signing_in/sign_up.html",
            {"form": form, "error": refused.detail, "next": safe_next(next)},
            status_code=refused.status,
        )
    session.sign_in(answer.json())
    await api.call(session, "POST", "/api/auth/verify-email/request")
    session.notify(f"Welcome! We sent a confirmation link to {email}.")
    return redirect(safe_next(next))


@router.get("/sign-in")
async def sign_in_page(
    request: Request, session: PageSession, next: Annotated[str, Query(max_length=2000)] = "/"
) -> Response:
    if session.signed_in:
        return redirect(safe_next(next))
    return render(request, "signing_in/sign_in.html", {"next": safe_next(next), "email": ""})


@router.post("/sign-in")
async def sign_in(
    request: Request,
    session: Checked,
    api: ApiDep,
    email: Email,
    password: Password,
    next: Next = "/",
) -> Response:
    target = safe_next(next)
    try:
        answer = await api.public(
            "POST",
            "/api/auth/login-json",
            json={"email": email, "password": password},
            headers=_client_of(request),
        )
    except Refused as refused:
        return render(
            request,
            "signing_in/sign_in.html",
            {"next": target, "email": email, "error": refused.detail},
            status_code=refused.status,
        )
    session.sign_in(answer.json())
    return redirect(target)


@router.post("/sign-out")
async def sign_out(session: Checked, api: ApiDep) -> Response:
    if session.signed_in:
        # The session ends here whatever auth says; its tokens expire on their own.
        with contextlib.suppress(ApiError):
            await api.public(
                "POST", "/api/auth/logout", json={"refresh_token": session.refresh_token}
            )
    session.sign_out()
    return redirect("/sign-in")


@router.get("/verify-email")
async def verify_email_page(request: Request, session: PageSession, token: Token = "") -> Response:
    # Confirmed by a button, not on opening: mail scanners open links on their own.
    return render(request, "signing_in/verify_email.html", {"token": token})


@router.post("/verify-email")
async def verify_email(
    request: Request,
    session: Checked,
    api: ApiDep,
    token: Annotated[str, Form(max_length=200)],
) -> Response:
    try:
        await api.public("POST", "/api/auth/verify-email/confirm", json={"token": token})
    except Refused as refused:
        return render(
            request,
            "signing_in/link_failed.html",
            {"what": "confirmation", "detail": refused.detail, "again": "/verify-email/resend"},
            status_code=400,
        )
    if session.signed_in and session.user is not None:
        session.user = {**session.user, "email_verified": True}
    session.notify("Your email address is confirmed.")
    return redirect("/" if session.signed_in else "/sign-in")


@router.post("/verify-email/resend")
async def resend_verification(session: Checked, api: ApiDep) -> Response:
    answer = await api.call(session, "POST", "/api/auth/verify-email/request")
    session.notify(str(answer.json().get("detail", "A confirmation link is on its way.")))
    return redirect("/")


@router.get("/forgot-password")
async def forgot_password_page(request: Request, session: PageSession) -> Response:
    return render(request, "signing_in/forgot_password.html", {"sent": False})


@router.post("/forgot-password")
async def forgot_password(
    request: Request, session: Checked, api: ApiDep, email: Email
) -> Response:
    await api.public("POST", "/api/auth/password/forgot", json={"email": email})
    return render(request, "signing_in/forgot_password.html", {"sent": True, "email": email})


@router.get("/reset-password")
async def reset_password_page(
    request: Request, session: PageSession, token: Token = ""
) -> Response:
    return render(request, "signing_in/reset_password.html", {"token": token})


@router.post("/reset-password")
async def reset_password(
    request: Request,
    session: Checked,
    api: ApiDep,
    token: Annotated[str, Form(max_length=200)],
    new_password: Password,
) -> Response:
    try:
        await api.public(
            "POST", "/api/auth/password/reset", json={"token": token, "new_password": new_password}
        )
    except Refused as refused:
        if refused.status == 422 or refused.problem_type == "weak-password":
            # The link is fine; the password is not: let the person try another.
            return render(
                request,
                "signing_in/reset_password.html",
                {"token": token, "error": refused.detail},
                status_code=422,
            )
        return render(
            request,
            "signing_in/link_failed.html",
            {"what": "reset", "detail": refused.detail, "again": "/forgot-password"},
            status_code=400,
        )
    # Every session of the account was just signed out, this browser's included.
    session.sign_out()
    return render(request, "signing_in/password_reset_done.html")
