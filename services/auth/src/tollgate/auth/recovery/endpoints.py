from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, BackgroundTasks, Request, Response, status

from tollgate.auth.accounts.repository import UserRepository
from tollgate.auth.accounts.throttling import LoginThrottle
from tollgate.auth.deps import Client, PasswordsDep, SessionsDep, SettingsDep, SignedIn
from tollgate.auth.mail.sender import Mailer
from tollgate.auth.recovery.schemas import Accepted, ConfirmEmail, ForgotPassword, ResetPassword
from tollgate.auth.recovery.service import (
    PASSWORD_RESET,
    VERIFY_EMAIL,
    EmailCodes,
    reset_password,
)
from tollgate.shared.db import SessionDep
from tollgate.shared.openapi import problems

# A mailed code that is wrong, spent or expired (400); too many resets asked (429).
router = APIRouter(prefix="/api/auth", tags=["auth"], responses=problems(400, 429))

FORGOT_ANSWER = Accepted(
    detail="If an account exists for this address, a reset link is on its way."
)


def mailer(request: Request) -> Mailer:
    value: Mailer = request.app.state.mailer
    return value


@router.post("/password/forgot", response_model=Accepted, status_code=status.HTTP_202_ACCEPTED)
async def forgot_password(
    body: ForgotPassword,
    request: Request,
    background: BackgroundTasks,
    db: SessionDep,
    settings: SettingsDep,
    client: Client,
) -> Accepted:
    """Email a password-reset link; the answer is the same whether or not the account exists."""
    throttle: LoginThrottle = request.app.state.reset_throttle
    await throttle.check(body.email, client.ip)
    # Every request counts against the throttle, so nobody can flood a mailbox.
    await throttle.record_failure(body.email, client.ip)
    user = await UserRepository(db).by_email(body.email) if "@" in body.email else None
    if user is not None and user.is_active and user.email:
        code = await EmailCodes(db).issue(
            user, PASSWORD_RESET, timedelta(minutes=settings.password_reset_ttl_minutes)
        )
        link = f"{settings.public_url.rstrip('/')}/reset-password?token={code}"
        background.add_task(
            mailer(request).send,
            user.email,
            "Reset your Tollgate password",
            f"Someone asked to reset the password of this account.\n\n{link}\n\n"
            f"The link works once, for {settings.password_reset_ttl_minutes} minutes. "
            "If it was not you, ignore this message.",
        )
    return FORGOT_ANSWER


@router.post("/password/reset", status_code=status.HTTP_204_NO_CONTENT)
async def password_reset(
    body: ResetPassword, db: SessionDep, passwords: PasswordsDep, sessions: SessionsDep
) -> Response:
    """Set a new password with the code from the reset email; every session is signed out."""
    user = await reset_password(db, passwords, body.token, body.new_password)
    await sessions.revoke_all(user.id, reason="password-reset")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/verify-email/request", response_model=Accepted, status_code=status.HTTP_202_ACCEPTED)
async def request_verification(
    caller: SignedIn,
    request: Request,
    background: BackgroundTasks,
    db: SessionDep,
    settings: SettingsDep,
) -> Accepted:
    """Email a link that proves you own your address."""
    user = caller.user
    if user.email_verified or not user.email:
        return Accepted(detail="Your email address is already verified.")
    code = await EmailCodes(db).issue(
        user, VERIFY_EMAIL, timedelta(hours=settings.email_verification_ttl_hours)
    )
    link = f"{settings.public_url.rstrip('/')}/verify-email?token={code}"
    background.add_task(
        mailer(request).send,
        user.email,
        "Confirm your email address",
        f"Confirm this address for your Tollgate account:\n\n{link}\n",
    )
    return Accepted(detail="A confirmation link is on its way.")


@router.post("/verify-email/confirm", status_code=status.HTTP_204_NO_CONTENT)
async def confirm_email(body: ConfirmEmail, db: SessionDep) -> Response:
    """Confirm your address with the code from the email."""
    user = await EmailCodes(db).redeem(VERIFY_EMAIL, body.token)
    user.email_verified = True
    return Response(status_code=status.HTTP_204_NO_CONTENT)
