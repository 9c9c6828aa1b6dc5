from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Request, Response, status

from tollgate.auth.accounts.service import user_out
from tollgate.auth.deps import PeersDep, SessionsDep, SettingsDep, SignedIn
from tollgate.auth.models import VscodeSession
from tollgate.auth.plans.repository import AccountPlanRepository
from tollgate.auth.vscode.repository import (
    record_vscode_session,
    remove_vscode_session,
    vscode_sessions_of,
)
from tollgate.auth.vscode.schemas import (
    ServedModel,
    SessionValidation,
    SignInMethods,
    ValidationResult,
    VscodeConfig,
    VscodeSessionOut,
)
from tollgate.shared.db import SessionDep
from tollgate.shared.plans import limits_for

router = APIRouter(prefix="/api/vscode", tags=["vscode"])
config_router = APIRouter(prefix="/api/auth", tags=["auth"])


def session_out(row: VscodeSession) -> VscodeSessionOut:
    return VscodeSessionOut.model_validate(row, from_attributes=True)


def sign_in_methods(request: Request) -> SignInMethods:
    return SignInMethods(oauth_providers=sorted(request.app.state.oauth_providers))


@config_router.get("/sign-in-methods", response_model=SignInMethods)
async def enabled_sign_in_methods(request: Request) -> SignInMethods:
    """How a person can sign in here (no token needed): password, device code, OAuth providers."""
    return sign_in_methods(request)


@config_router.get("/vscode-config", response_model=VscodeConfig)
async def vscode_config(
    request: Request, caller: SignedIn, db: SessionDep, settings: SettingsDep, peers: PeersDep
) -> VscodeConfig:
    """Where the extension sends requests, the models it can call, and how people sign in."""
    plans = AccountPlanRepository(db)
    plan, limits = await plans.plan_of(caller.user)
    # The plan's newest edit wins over the limits the account was subscribed with.
    effective = {**limits_for(plan), **limits, **await plans.announced_limits(plan)}
    gateway = settings.public_url.rstrip("/")
    served = await peers.served_models(caller.principal.token)
    return VscodeConfig(
        gateway_url=gateway,
        openai_base_url=f"{gateway}/v1",
        plan=plan,
        models=None if served is None else [ServedModel.model_validate(m) for m in served],
        sign_in_methods=sign_in_methods(request),
        limits=effective,
    )


@router.post("/session/validate", response_model=ValidationResult)
async def validate_session(
    body: SessionValidation, caller: SignedIn, db: SessionDep, settings: SettingsDep
) -> ValidationResult:
    """Check the extension's sign-in and record this machine (created or refreshed)."""
    row = await record_vscode_session(
        db,
        caller.user.id,
        body.machine_id,
        body.extension_version,
        caller.principal.sid,
        timedelta(days=settings.vscode_session_ttl_days),
    )
    return ValidationResult(session=session_out(row), user=await user_out(db, caller.user))


@router.get("/session", response_model=list[VscodeSessionOut])
async def list_sessions(caller: SignedIn, db: SessionDep) -> list[VscodeSessionOut]:
    """Your signed-in VS Code machines."""
    return [session_out(r) for r in await vscode_sessions_of(db, caller.user.id)]


@router.delete("/session/{record_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_session(
    record_id: uuid.UUID, caller: SignedIn, db: SessionDep, sessions: SessionsDep
) -> Response:
    """Sign a VS Code machine out (its auth session is revoked too)."""
    row = await remove_vscode_session(db, caller.user.id, record_id)
    if row.auth_session_id is not None:
        auth_session = await sessions.repo.get(row.auth_session_id)
        if auth_session is not None and auth_session.user_id == caller.user.id:
            await sessions.revoke([auth_session], reason="vscode-signout")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
