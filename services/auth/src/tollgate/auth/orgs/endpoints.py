from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, BackgroundTasks, Request, Response, status

from tollgate.auth.deps import SettingsDep, SignedIn
from tollgate.auth.mail.sender import Mailer
from tollgate.auth.models import Organization, OrgMember
from tollgate.auth.orgs.schemas import (
    InvitationAccept,
    InvitationCreate,
    InvitationOut,
    MemberOut,
    OrganizationCreate,
    OrganizationOut,
    RoleChange,
)
from tollgate.auth.orgs.service import Organizations
from tollgate.shared.db import SessionDep
from tollgate.shared.errors import NotFound
from tollgate.shared.openapi import problems

router = APIRouter(
    prefix="/api/organizations", tags=["organizations"], responses=problems(400, 403, 404, 409)
)


def org_out(org: Organization, member: OrgMember) -> OrganizationOut:
    return OrganizationOut(
        id=org.id,
        name=org.name,
        created_at=org.created_at,
        role=member.role,
    )


def invitation_out(row: object) -> InvitationOut:
    return InvitationOut.model_validate(row, from_attributes=True)


@router.post("", response_model=OrganizationOut, status_code=status.HTTP_201_CREATED)
async def create_organization(
    body: OrganizationCreate, caller: SignedIn, db: SessionDep
) -> OrganizationOut:
    """Create an organization; you become its owner."""
    org, member = await Organizations(db).create(caller.user, body.name)
    return org_out(org, member)


@router.get("", response_model=list[OrganizationOut])
async def my_organizations(caller: SignedIn, db: SessionDep) -> list[OrganizationOut]:
    """The organization you belong to (at most one)."""
    if caller.user.org_id is None:
        return []
    try:
        org, member = await Organizations(db).as_member(caller.user.org_id, caller.user)
    except NotFound:
        return []
    return [org_out(org, member)]


@router.get("/{org_id}", response_model=OrganizationOut)
async def get_organization(org_id: uuid.UUID, caller: SignedIn, db: SessionDep) -> OrganizationOut:
    """One organization you belong to."""
    org, member = await Organizations(db).as_member(org_id, caller.user)
    return org_out(org, member)


@router.put("/{org_id}", response_model=OrganizationOut)
async def rename_organization(
    org_id: uuid.UUID, body: OrganizationCreate, caller: SignedIn, db: SessionDep
) -> OrganizationOut:
    """Rename the organization (owners and admins)."""
    org, member = await Organizations(db).as_manager(org_id, caller.user)
    org.name = body.name
    return org_out(org, member)


@router.delete("/{org_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_organization(org_id: uuid.UUID, caller: SignedIn, db: SessionDep) -> Response:
    """Delete the organization (owners); every member is removed."""
    await Organizations(db).delete(org_id, caller.user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{org_id}/members", response_model=list[MemberOut])
async def members(org_id: uuid.UUID, caller: SignedIn, db: SessionDep) -> list[MemberOut]:
    """Members and their roles."""
    orgs = Organizations(db)
    await orgs.as_member(org_id, caller.user)
    return [
        MemberOut(user_id=u.id, email=u.email, name=u.name, role=m.role, joined_at=m.joined_at)
        for m, u in await orgs.repo.members(org_id)
    ]


@router.put("/{org_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def change_member_role(
    org_id: uuid.UUID, user_id: uuid.UUID, body: RoleChange, caller: SignedIn, db: SessionDep
) -> Response:
    """Change a member's role (owners)."""
    await Organizations(db).change_role(org_id, caller.user, user_id, body.role)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/{org_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(
    org_id: uuid.UUID, user_id: uuid.UUID, caller: SignedIn, db: SessionDep
) -> Response:
    """Remove a member, or leave (your own id)."""
    await Organizations(db).remove(org_id, caller.user, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{org_id}/invitations", response_model=list[InvitationOut])
async def invitations(org_id: uuid.UUID, caller: SignedIn, db: SessionDep) -> list[InvitationOut]:
    """Pending invitations (owners and admins)."""
    orgs = Organizations(db)
    await orgs.as_manager(org_id, caller.user)
    return [invitation_out(i) for i in await orgs.repo.invitations(org_id, datetime.now(UTC))]


@router.post(
    "/{org_id}/invitations", response_model=InvitationOut, status_code=status.HTTP_201_CREATED
)
async def invite(
    org_id: uuid.UUID,
    body: InvitationCreate,
    caller: SignedIn,
    db: SessionDep,
    settings: SettingsDep,
    request: Request,
    background: BackgroundTasks,
) -> InvitationOut:
    """Invite someone by email; the link works until it expires or is used."""
    org, invitation, code = await Organizations(db).invite(
        org_id,
        caller.user,
        str(body.email),
        body.role,
        timedelta(days=settings.invitation_ttl_days),
    )
    mailer: Mailer = request.app.state.mailer
    link = f"{settings.public_url.rstrip('/')}/invitations/accept?token={code}"
    background.add_task(
        mailer.send,
        invitation.email,
        f"You are invited to {org.name} on Tollgate",
        f"{caller.user.name or caller.user.email} invited you to join {org.name} "
        f"as {invitation.role}.\n\n{link}\n\n"
        f"The invitation expires in {settings.invitation_ttl_days} days.",
    )
    return invitation_out(invitation)


@router.delete("/{org_id}/invitations/{invitation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_invitation(
    org_id: uuid.UUID, invitation_id: uuid.UUID, caller: SignedIn, db: SessionDep
) -> Response:
    """Withdraw an invitation."""
    await Organizations(db).revoke_invitation(org_id, caller.user, invitation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/invitations/accept", response_model=OrganizationOut)
async def accept_invitation(
    body: InvitationAccept, caller: SignedIn, db: SessionDep
) -> OrganizationOut:
    """Join an organization with the code from an invitation sent to your address."""
    orgs = Organizations(db)
    org = await orgs.accept(caller.user, body.token)
    _, member = await orgs.as_member(org.id, caller.user)
    return org_out(org, member)
