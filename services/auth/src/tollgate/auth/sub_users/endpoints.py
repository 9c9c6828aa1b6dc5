"""Sub-users: accounts a parent creates for dependants, spending from the parent's tokens."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from tollgate.auth.accounts.erasure import erase_account
from tollgate.auth.accounts.repository import UserRepository
from tollgate.auth.accounts.service import Accounts, sub_user_updated, user_updated
from tollgate.auth.deps import Caller, PasswordsDep, SessionsDep, SignedIn
from tollgate.auth.events import publish
from tollgate.auth.models import User
from tollgate.auth.sub_users.schemas import SubUserCreate, SubUserOut, SubUserUpdate
from tollgate.shared.db import SessionDep
from tollgate.shared.errors import Forbidden, NotFound
from tollgate.shared.openapi import problems

router = APIRouter(
    prefix="/api/sub-users", tags=["sub-users"], responses=problems(400, 403, 404, 409)
)


def sub_user_out(user: User) -> SubUserOut:
    return SubUserOut.model_validate(user, from_attributes=True)


def parent_only(caller: Caller) -> User:
    if caller.user.parent_user_id is not None:
        raise Forbidden("Sub-users cannot manage sub-users")
    return caller.user


async def own_sub_user(db: SessionDep, parent: User, sub_user_id: uuid.UUID) -> User:
    user = await UserRepository(db).get(sub_user_id, for_update=True)
    if user is None or user.parent_user_id != parent.id or user.deleted_at is not None:
        raise NotFound("No such sub-user")
    return user


@router.post("", response_model=SubUserOut, status_code=status.HTTP_201_CREATED)
async def create_sub_user(
    body: SubUserCreate, caller: SignedIn, db: SessionDep, passwords: PasswordsDep
) -> SubUserOut:
    """Create a sub-user with its own sign-in, permissions and token cap."""
    parent = parent_only(caller)
    user = await Accounts(db, passwords).register(
        str(body.email),
        body.password,
        body.name,
        parent_user_id=parent.id,
        permissions=sorted(set(body.permissions)),
        token_limit=body.token_limit,
    )
    return sub_user_out(user)


@router.get("", response_model=list[SubUserOut])
async def list_sub_users(caller: SignedIn, db: SessionDep) -> list[SubUserOut]:
    """Your sub-users."""
    parent = parent_only(caller)
    return [sub_user_out(u) for u in await UserRepository(db).children(parent.id)]


@router.get("/{sub_user_id}", response_model=SubUserOut)
async def get_sub_user(sub_user_id: uuid.UUID, caller: SignedIn, db: SessionDep) -> SubUserOut:
    """One of your sub-users."""
    return sub_user_out(await own_sub_user(db, parent_only(caller), sub_user_id))


@router.put("/{sub_user_id}", response_model=SubUserOut)
async def update_sub_user(
    sub_user_id: uuid.UUID,
    body: SubUserUpdate,
    caller: SignedIn,
    db: SessionDep,
    sessions: SessionsDep,
) -> SubUserOut:
    """Change a sub-user's name, permissions or token cap, or disable / enable it."""
    user = await own_sub_user(db, parent_only(caller), sub_user_id)
    if body.name is not None:
        user.name = body.name
    if body.permissions is not None:
        user.permissions = sorted(set(body.permissions))
    if body.clear_token_limit:
        user.token_limit = None
    elif body.token_limit is not None:
        user.token_limit = body.token_limit
    if body.is_active is not None and body.is_active != user.is_active:
        user.is_active = body.is_active
        if not body.is_active:
            await sessions.revoke_user_everywhere(user.id, reason="disabled-by-parent")
    await publish(db, user.id, user_updated(user))
    await publish(db, user.id, sub_user_updated(user))
    return sub_user_out(user)


@router.delete("/{sub_user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_sub_user(
    sub_user_id: uuid.UUID, caller: SignedIn, db: SessionDep, sessions: SessionsDep
) -> Response:
    """Delete a sub-user: its personal data is erased and it can no longer sign in."""
    user = await own_sub_user(db, parent_only(caller), sub_user_id)
    await erase_account(db, sessions, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
