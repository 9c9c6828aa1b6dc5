"""Moving accounts and organizations in from another backend, idempotent by source id.

The Tollgate id of an imported record is derived from its source and source id
(UUIDv5), so a repeated or resumed import finds what an earlier run wrote
without a lookup table, and a re-run changes nothing. Imported users announce
themselves with ``imported: true`` on ``user.registered``: billing and usage then
wait for the imported subscription and balance instead of starting the free plan.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.accounts.repository import UserRepository
from tollgate.auth.accounts.service import user_registered, user_updated
from tollgate.auth.events import publish
from tollgate.auth.imports.schemas import OrganizationImport, UserImport
from tollgate.auth.models import Organization, OrgMember, User
from tollgate.auth.orgs.repository import OrganizationRepository
from tollgate.shared.errors import Conflict, NotFound, UnprocessableEntity
from tollgate.shared.messaging.events import OrgMemberAdded, UserRegistered

IMPORT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://tollgate.dev/imports")


def imported_id(kind: str, source: str, source_id: str) -> uuid.UUID:
    return uuid.uuid5(IMPORT_NAMESPACE, f"{kind}:{source}:{source_id}")


def email_taken() -> Conflict:
    return Conflict(
        "This email already belongs to another Tollgate account", type_slug="email-taken"
    )


class Imports:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db
        self.users = UserRepository(db)
        self.orgs = OrganizationRepository(db)

    async def user(self, body: UserImport) -> tuple[User, bool]:
        user_id = imported_id("user", body.source, body.source_id)
        existing = await self.users.get(user_id)
        if existing is not None:
            return existing, False
        email = str(body.email).lower()
        if await self.users.email_taken(email):
            raise email_taken()
        if body.parent_id is not None:
            await self._check_parent(body.parent_id)
        now = datetime.now(UTC)
        user = User(
            id=user_id,
            email=email,
            name=body.name,
            password_hash=body.password_hash,
            role=body.role,
            is_active=body.is_active,
            email_verified=body.email_verified,
            parent_user_id=body.parent_id,
            permissions=sorted(set(body.permissions)) if body.parent_id else [],
            token_limit=body.token_limit if body.parent_id else None,
            created_at=body.created_at or now,
            updated_at=now,
        )
        self.users.add(user)
        try:
            await self.db.flush()
        except IntegrityError as exc:  # the same email imported by a concurrent call
            raise email_taken() from exc
        registered = user_registered(user).model_dump(mode="json")
        await publish(
            self.db, user.id, UserRegistered.model_validate(registered | {"imported": True})
        )
        if not user.is_active:
            await publish(self.db, user.id, user_updated(user))
        return user, True

    async def _check_parent(self, parent_id: uuid.UUID) -> None:
        parent = await self.users.get(parent_id)
        if parent is None or parent.deleted_at is not None:
            raise UnprocessableEntity(
                "The parent account has not been imported", type_slug="dangling-reference"
            )
        if parent.parent_user_id is not None:
            raise UnprocessableEntity(
                "A sub-user cannot have sub-users", type_slug="dangling-reference"
            )

    async def organization(self, body: OrganizationImport) -> tuple[Organization, bool]:
        org_id = imported_id("org", body.source, body.source_id)
        existing = await self.orgs.get(org_id)
        if existing is not None:
            return existing, False
        org = Organization(
            id=org_id, name=body.name, created_at=body.created_at or datetime.now(UTC)
        )
        self.orgs.add(org)
        await self.db.flush()
        return org, True

    async def member(self, org_id: uuid.UUID, user_id: uuid.UUID, role: str) -> bool:
        org = await self.orgs.get(org_id)
        if org is None:
            raise NotFound("No such organization")
        user = await self.users.get(user_id, for_update=True)
        if user is None or user.deleted_at is not None:
            raise UnprocessableEntity(
                "The member's account has not been imported", type_slug="dangling-reference"
            )
        if await self.orgs.membership(org_id, user_id) is not None:
            return False
        if user.org_id is not None:
            raise Conflict(
                "This account already belongs to another organization", type_slug="already-in-org"
            )
        if user.parent_user_id is not None:
            raise UnprocessableEntity(
                "Sub-users spend from their parent and join no organization",
                type_slug="sub-user-member",
            )
        self.orgs.add(
            OrgMember(org_id=org_id, user_id=user_id, role=role, joined_at=org.created_at)
        )
        if role == "owner" and org.created_by is None:
            org.created_by = user_id
        user.org_id = org_id
        await self.db.flush()
        await publish(self.db, user_id, OrgMemberAdded(org_id=org_id, user_id=user_id, role=role))
        return True
