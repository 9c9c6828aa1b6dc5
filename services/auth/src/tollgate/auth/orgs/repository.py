from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.models import Organization, OrgInvitation, OrgMember, User


class OrganizationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.db = session

    def add(self, row: Organization | OrgMember | OrgInvitation) -> None:
        self.db.add(row)

    async def get(self, org_id: uuid.UUID) -> Organization | None:
        return await self.db.get(Organization, org_id, with_for_update=True)

    async def membership(self, org_id: uuid.UUID, user_id: uuid.UUID) -> OrgMember | None:
        return await self.db.get(OrgMember, (org_id, user_id), with_for_update=True)

    async def members(self, org_id: uuid.UUID) -> Sequence[tuple[OrgMember, User]]:
        rows = await self.db.execute(
            select(OrgMember, User)
            .join(User, User.id == OrgMember.user_id)
            .where(OrgMember.org_id == org_id)
            .order_by(OrgMember.joined_at)
        )
        return [(m, u) for m, u in rows.all()]

    async def all_members(self) -> Sequence[OrgMember]:
        """Every membership of every organization."""
        rows = await self.db.scalars(
            select(OrgMember).order_by(OrgMember.org_id, OrgMember.joined_at)
        )
        return rows.all()

    async def owners(self, org_id: uuid.UUID) -> int:
        count = await self.db.scalar(
            select(func.count())
            .select_from(OrgMember)
            .where(OrgMember.org_id == org_id, OrgMember.role == "owner")
        )
        return int(count or 0)

    async def remove_member(self, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
        await self.db.execute(
            delete(OrgMember).where(OrgMember.org_id == org_id, OrgMember.user_id == user_id)
        )

    async def delete(self, org: Organization) -> None:
        await self.db.delete(org)

    async def invitations(self, org_id: uuid.UUID, now: datetime) -> Sequence[OrgInvitation]:
        rows = await self.db.scalars(
            select(OrgInvitation)
            .where(
                OrgInvitation.org_id == org_id,
                OrgInvitation.accepted_at.is_(None),
                OrgInvitation.revoked_at.is_(None),
                OrgInvitation.expires_at > now,
            )
            .order_by(OrgInvitation.created_at.desc())
        )
        return rows.all()

    async def invitation(self, org_id: uuid.UUID, invitation_id: uuid.UUID) -> OrgInvitation | None:
        result = await self.db.scalar(
            select(OrgInvitation).where(
                OrgInvitation.id == invitation_id, OrgInvitation.org_id == org_id
            )
        )
        return result

    async def invitation_by_code(self, code_hash: str) -> OrgInvitation | None:
        result = await self.db.scalar(
            select(OrgInvitation).where(OrgInvitation.code_hash == code_hash).with_for_update()
        )
        return result
