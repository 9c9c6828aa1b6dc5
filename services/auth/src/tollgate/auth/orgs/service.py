"""Organizations: a shared plan and token pool; members are owners, admins or members.

A user belongs to at most one organization, because the ``org`` claim names one.
Members learn of a membership change in their next access token (a refresh at
most 15 minutes away); usage and billing learn of it from the events at once and
authorize from what they learnt, never from the claim. Every change of who is in
an organization, or of their role, is published in the transaction that makes it.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.accounts.repository import UserRepository
from tollgate.auth.events import publish
from tollgate.auth.models import Organization, OrgInvitation, OrgMember, User
from tollgate.auth.orgs.repository import OrganizationRepository
from tollgate.shared.errors import BadRequest, Conflict, Forbidden, NotFound
from tollgate.shared.messaging.events import OrgMemberAdded, OrgMemberRemoved, OrgMemberUpdated

MANAGERS = frozenset({"owner", "admin"})


def hash_code(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class Organizations:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db
        self.repo = OrganizationRepository(db)

    async def create(self, user: User, name: str) -> tuple[Organization, OrgMember]:
        if user.org_id is not None:
            raise Conflict("You already belong to an organization", type_slug="already-in-org")
        if user.parent_user_id is not None:
            raise Forbidden("Sub-users cannot create organizations")
        now = datetime.now(UTC)
        org = Organization(id=uuid.uuid4(), name=name, created_by=user.id, created_at=now)
        self.repo.add(org)
        await self.db.flush()
        member = await self._add_member(org.id, user, "owner", now)
        return org, member

    async def _add_member(
        self, org_id: uuid.UUID, user: User, role: str, now: datetime
    ) -> OrgMember:
        member = OrgMember(org_id=org_id, user_id=user.id, role=role, joined_at=now)
        self.repo.add(member)
        user.org_id = org_id
        await self.db.flush()
        await publish(self.db, user.id, OrgMemberAdded(org_id=org_id, user_id=user.id, role=role))
        return member

    async def as_member(self, org_id: uuid.UUID, user: User) -> tuple[Organization, OrgMember]:
        """The organization and the caller's membership; outsiders learn nothing (404)."""
        org = await self.repo.get(org_id)
        member = None if org is None else await self.repo.membership(org_id, user.id)
        if org is None or member is None:
            raise NotFound("No such organization")
        return org, member

    async def as_manager(self, org_id: uuid.UUID, user: User) -> tuple[Organization, OrgMember]:
        org, member = await self.as_member(org_id, user)
        if member.role not in MANAGERS:
            raise Forbidden("Only the organization's owners and admins may do this")
        return org, member

    async def delete(self, org_id: uuid.UUID, user: User) -> None:
        org, member = await self.as_member(org_id, user)
        if member.role != "owner":
            raise Forbidden("Only an owner may delete the organization")
        for m, u in await self.repo.members(org_id):
            u.org_id = None
            await publish(self.db, u.id, OrgMemberRemoved(org_id=org_id, user_id=u.id, role=m.role))
        await self.repo.delete(org)

    async def change_role(
        self, org_id: uuid.UUID, user: User, target_id: uuid.UUID, role: str
    ) -> OrgMember:
        _, member = await self.as_member(org_id, user)
        if member.role != "owner":
            raise Forbidden("Only an owner may change roles")
        target = await self.repo.membership(org_id, target_id)
        if target is None:
            raise NotFound("No such member")
        if target.role == "owner" and role != "owner" and await self.repo.owners(org_id) <= 1:
            raise Conflict("An organization keeps at least one owner", type_slug="last-owner")
        if target.role != role:
            target.role = role
            await publish(
                self.db, target_id, OrgMemberUpdated(org_id=org_id, user_id=target_id, role=role)
            )
        return target

    async def remove(self, org_id: uuid.UUID, user: User, target_id: uuid.UUID) -> None:
        _, member = await self.as_member(org_id, user)
        target = await self.repo.membership(org_id, target_id)
        if target is None:
            raise NotFound("No such member")
        leaving = target_id == user.id
        if not leaving and member.role not in MANAGERS:
            raise Forbidden("Only owners and admins may remove members")
        if target.role == "owner" and not leaving and member.role != "owner":
            raise Forbidden("Only an owner may remove an owner")
        if target.role == "owner" and await self.repo.owners(org_id) <= 1:
            raise Conflict("An organization keeps at least one owner", type_slug="last-owner")
        await self.repo.remove_member(org_id, target_id)
        removed = await UserRepository(self.db).get(target_id)
        if removed is not None:
            removed.org_id = None
        await publish(
            self.db, target_id, OrgMemberRemoved(org_id=org_id, user_id=target_id, role=target.role)
        )

    async def leave_with_account(self, user: User) -> None:
        """Take a user being deleted out of their organization, which always keeps an owner.

        The sole owner hands the organization to its longest-standing admin; an
        organization with nobody else in it goes with its owner; one with members but
        no admin refuses (409), since nobody could administer it afterwards.
        """
        if user.org_id is None:
            return
        org_id = user.org_id
        member = await self.repo.membership(org_id, user.id)
        if member is not None and member.role == "owner" and await self.repo.owners(org_id) <= 1:
            others = [(m, u) for m, u in await self.repo.members(org_id) if u.id != user.id]
            admins = [m for m, _ in others if m.role == "admin"]
            if admins:
                heir = admins[0]
                heir.role = "owner"
                await publish(
                    self.db,
                    heir.user_id,
                    OrgMemberUpdated(org_id=org_id, user_id=heir.user_id, role="owner"),
                )
            elif others:
                raise Conflict(
                    "You are the only owner of your organization and it has no admin to take "
                    "over: make a member an admin or owner, or delete the organization, first",
                    type_slug="sole-owner",
                )
        if member is not None:
            await self.repo.remove_member(org_id, user.id)
            await publish(
                self.db, user.id, OrgMemberRemoved(org_id=org_id, user_id=user.id, role=member.role)
            )
        user.org_id = None
        if member is not None and member.role == "owner" and await self.repo.owners(org_id) == 0:
            org = await self.repo.get(org_id)
            if org is not None:
                await self.repo.delete(org)

    async def invite(
        self, org_id: uuid.UUID, user: User, email: str, role: str, ttl: timedelta
    ) -> tuple[Organization, OrgInvitation, str]:
        org, _ = await self.as_manager(org_id, user)
        code = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        invitation = OrgInvitation(
            id=uuid.uuid4(),
            org_id=org_id,
            email=email.lower(),
            role=role,
            code_hash=hash_code(code),
            invited_by=user.id,
            created_at=now,
            expires_at=now + ttl,
        )
        self.repo.add(invitation)
        await self.db.flush()
        return org, invitation, code

    async def revoke_invitation(
        self, org_id: uuid.UUID, user: User, invitation_id: uuid.UUID
    ) -> None:
        await self.as_manager(org_id, user)
        invitation = await self.repo.invitation(org_id, invitation_id)
        if invitation is None or invitation.accepted_at is not None:
            raise NotFound("No such invitation")
        invitation.revoked_at = datetime.now(UTC)

    async def accept(self, user: User, code: str) -> Organization:
        now = datetime.now(UTC)
        invitation = await self.repo.invitation_by_code(hash_code(code))
        usable = (
            invitation is not None
            and invitation.accepted_at is None
            and invitation.revoked_at is None
            and invitation.expires_at > now
        )
        if invitation is None or not usable:
            raise BadRequest("This invitation is invalid or has expired", type_slug="invalid-code")
        if (user.email or "").lower() != invitation.email:
            raise Forbidden("This invitation was sent to another email address")
        if user.org_id is not None:
            raise Conflict("You already belong to an organization", type_slug="already-in-org")
        org = await self.repo.get(invitation.org_id)
        if org is None:
            raise BadRequest("This invitation is invalid or has expired", type_slug="invalid-code")
        invitation.accepted_at = now
        # Reading the invitation in the mailbox proves the address.
        user.email_verified = True
        await self._add_member(org.id, user, invitation.role, now)
        return org
