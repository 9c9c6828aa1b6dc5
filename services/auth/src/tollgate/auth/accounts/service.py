"""Accounts: registration, sign-in, password change, profile, deletion."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.accounts.passwords import Passwords, password_problem
from tollgate.auth.accounts.repository import UserRepository
from tollgate.auth.accounts.schemas import UserOut
from tollgate.auth.accounts.throttling import LoginThrottle
from tollgate.auth.events import publish
from tollgate.auth.models import User
from tollgate.auth.plans.repository import AccountPlanRepository
from tollgate.shared.errors import BadRequest, Conflict, Unauthorized, UnprocessableEntity
from tollgate.shared.messaging.events import SubUserUpdated, UserRegistered, UserUpdated

# One answer for unknown email, wrong password and disabled account: nothing to enumerate.
INVALID_CREDENTIALS = "Incorrect email or password"


def check_password_rules(password: str, email: str | None) -> None:
    problem = password_problem(password, email)
    if problem:
        raise UnprocessableEntity(problem, type_slug="weak-password")


async def user_out(db: AsyncSession, user: User) -> UserOut:
    plan, _ = await AccountPlanRepository(db).plan_of(user)
    return user_out_with_plan(user, plan)


async def users_out(db: AsyncSession, users: list[User]) -> list[UserOut]:
    """Many users with one plan query, not one per user."""
    plans = await AccountPlanRepository(db).plans_of(users)
    return [user_out_with_plan(u, plans[u.id]) for u in users]


def user_out_with_plan(user: User, plan: str) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        subscription_tier=plan,
        email_verified=user.email_verified,
        is_active=user.is_active,
        org_id=user.org_id,
        parent_user_id=user.parent_user_id,
        created_at=user.created_at,
    )


def sub_user_terms(user: User) -> dict[str, Any]:
    """A sub-user's cap and permissions travel with its events, so usage can enforce the cap."""
    if user.parent_user_id is None:
        return {}
    return {"token_limit": user.token_limit, "permissions": list(user.permissions)}


def user_registered(user: User) -> UserRegistered:
    return UserRegistered.model_validate(
        {
            "user_id": user.id,
            "email": user.email or "",
            "name": user.name,
            "org_id": user.org_id,
            "parent_user_id": user.parent_user_id,
            **sub_user_terms(user),
        }
    )


def user_updated(user: User) -> UserUpdated:
    return UserUpdated.model_validate(
        {
            "user_id": user.id,
            "email": user.email or "",
            "name": user.name,
            "role": user.role,
            "is_active": user.is_active,
            **sub_user_terms(user),
        }
    )


def sub_user_updated(user: User) -> SubUserUpdated:
    """The terms usage enforces on every reservation: the whole of them, so the newest suffices."""
    assert user.parent_user_id is not None
    return SubUserUpdated(
        user_id=user.id,
        parent_user_id=user.parent_user_id,
        token_limit=user.token_limit,
        permissions=list(user.permissions),
        is_active=user.is_active,
    )


class Accounts:
    def __init__(self, db: AsyncSession, passwords: Passwords) -> None:
        self.db = db
        self.passwords = passwords
        self.users = UserRepository(db)

    async def register(
        self,
        email: str,
        password: str,
        name: str | None,
        *,
        role: str = "user",
        parent_user_id: uuid.UUID | None = None,
        email_verified: bool = False,
        permissions: list[str] | None = None,
        token_limit: int | None = None,
    ) -> User:
        email = email.lower()
        check_password_rules(password, email)
        if await self.users.email_taken(email):
            raise Conflict("An account with this email already exists", type_slug="email-taken")
        now = datetime.now(UTC)
        user = User(
            id=uuid.uuid4(),
            email=email,
            name=name,
            password_hash=await self.passwords.hash(password),
            role=role,
            is_active=True,
            email_verified=email_verified,
            parent_user_id=parent_user_id,
            permissions=permissions or [],
            token_limit=token_limit,
            created_at=now,
            updated_at=now,
        )
        self.users.add(user)
        try:
            await self.db.flush()
        except IntegrityError as exc:  # two registrations of one email at once
            raise Conflict(
                "An account with this email already exists", type_slug="email-taken"
            ) from exc
        await publish(self.db, user.id, user_registered(user))
        return user

    async def authenticate(
        self, email: str, password: str, throttle: LoginThrottle, ip: str | None
    ) -> User:
        """The user these credentials belong to, or one uniform 401 (throttled: 429)."""
        await throttle.check(email, ip)
        user = await self.users.by_email(email) if "@" in email else None
        usable = user is not None and user.is_active and user.deleted_at is None
        stored = user.password_hash if usable and user is not None else None
        # Always pay for one argon2 verification, so timing does not tell accounts apart.
        ok = await self.passwords.verify(stored, password)
        if not ok or user is None:
            await throttle.record_failure(email, ip)
            raise Unauthorized(INVALID_CREDENTIALS, type_slug="invalid-credentials")
        await throttle.record_success(email)
        if stored and self.passwords.needs_rehash(stored):
            user.password_hash = await self.passwords.hash(password)
        return user

    async def change_password(self, user: User, current: str, new: str) -> None:
        if not await self.passwords.verify(user.password_hash, current):
            raise BadRequest("Current password is incorrect", type_slug="invalid-credentials")
        check_password_rules(new, user.email)
        if current == new:
            raise UnprocessableEntity("New password must differ from the current one")
        user.password_hash = await self.passwords.hash(new)

    async def update_profile(self, user: User, name: str) -> None:
        user.name = name
        await publish(self.db, user.id, user_updated(user))

    async def confirm_deletion(self, user: User, password: str | None) -> None:
        """Deleting an account that has a password takes that password."""
        if user.password_hash is not None and not await self.passwords.verify(
            user.password_hash, password or ""
        ):
            raise BadRequest("Password is incorrect", type_slug="invalid-credentials")
