"""Admin user management: search, change role, disable or enable, see sessions and keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from tollgate.auth.accounts.repository import UserRepository
from tollgate.auth.accounts.schemas import UserOut
from tollgate.auth.accounts.service import user_out, user_updated, users_out
from tollgate.auth.api_keys.schemas import ApiKeyOut
from tollgate.auth.api_keys.service import ApiKeys, key_out
from tollgate.auth.deps import Admin, SessionsDep
from tollgate.auth.events import publish
from tollgate.auth.models import User
from tollgate.auth.sessions.schemas import SessionOut
from tollgate.shared.db import SessionDep
from tollgate.shared.errors import Forbidden, NotFound
from tollgate.shared.security import ROLE_ORDER

router = APIRouter(prefix="/api/admin", tags=["admin"])


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "developer", "admin", "superadmin"] | None = None
    is_active: bool | None = None


async def target_user(db: SessionDep, user_id: uuid.UUID) -> User:
    user = await UserRepository(db).get(user_id, for_update=True)
    if user is None or user.deleted_at is not None:
        raise NotFound("No such user")
    return user


@router.get("/users", response_model=list[UserOut])
async def list_users(
    _admin: Admin,
    db: SessionDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[UserOut]:
    """Users, newest first; ``q`` searches email and name."""
    found: list[UserOut] = await users_out(
        db, list(await UserRepository(db).search(q, limit, offset))
    )
    return found


@router.put("/users/{user_id}", response_model=UserOut)
async def change_user(
    user_id: uuid.UUID, body: UserChange, admin: Admin, db: SessionDep, sessions: SessionsDep
) -> UserOut:
    """Change a user's role, or disable / enable the account (disabling signs it out)."""
    user = await target_user(db, user_id)
    touches_privileged = "superadmin" in (body.role, user.role) or (
        body.role is not None and user.role == "admin"
    )
    if touches_privileged and admin.user.role != "superadmin":
        raise Forbidden("Only a superadmin may grant, change or revoke admin rights")
    if user.id == admin.user.id and (body.is_active is False or body.role is not None):
        raise Forbidden("Admins cannot disable or demote themselves")
    if body.role is not None:
        lowered = ROLE_ORDER[body.role] < ROLE_ORDER.get(user.role, 0)
        user.role = body.role
        if lowered:
            # Tokens carry the role: those minted under the higher one must stop working now.
            await sessions.revoke_user_everywhere(user.id, reason="role-lowered")
    if body.is_active is not None and body.is_active != user.is_active:
        user.is_active = body.is_active
        if not body.is_active:
            await sessions.revoke_user_everywhere(user.id, reason="disabled-by-admin")
    user.updated_at = datetime.now(UTC)
    await publish(db, user.id, user_updated(user))
    return await user_out(db, user)


@router.get("/users/{user_id}/sessions", response_model=list[SessionOut])
async def user_sessions(
    user_id: uuid.UUID, _admin: Admin, db: SessionDep, sessions: SessionsDep
) -> list[SessionOut]:
    """A user's live sessions."""
    await target_user(db, user_id)
    rows = await sessions.repo.active_for_user(user_id, datetime.now(UTC))
    return [SessionOut.model_validate(r, from_attributes=True) for r in rows]


@router.post("/users/{user_id}/sessions/revoke", response_model=dict[str, int])
async def revoke_user_sessions(
    user_id: uuid.UUID, _admin: Admin, db: SessionDep, sessions: SessionsDep
) -> dict[str, int]:
    """Sign a user out everywhere."""
    await target_user(db, user_id)
    return {"revoked": await sessions.revoke_all(user_id, reason="revoked-by-admin")}


@router.get("/users/{user_id}/api-keys", response_model=list[ApiKeyOut])
async def user_keys(user_id: uuid.UUID, _admin: Admin, db: SessionDep) -> list[ApiKeyOut]:
    """A user's API keys, revoked ones included."""
    await target_user(db, user_id)
    return [key_out(k) for k in await ApiKeys(db).repo.of_user(user_id, include_revoked=True)]
