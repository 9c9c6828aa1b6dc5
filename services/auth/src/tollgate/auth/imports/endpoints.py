"""``/api/admin/imports``: accounts moved in from another backend (superadmins only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from tollgate.auth.deps import Caller, SignedIn
from tollgate.auth.imports.schemas import (
    Imported,
    MemberImport,
    OrganizationImport,
    UserImport,
)
from tollgate.auth.imports.service import Imports
from tollgate.shared.db import SessionDep
from tollgate.shared.errors import Forbidden
from tollgate.shared.openapi import created_or_replayed, problems

# An email or an id another account has (409), a reference not imported yet (404).
router = APIRouter(prefix="/api/admin/imports", tags=["imports"], responses=problems(404, 409))


async def superadmin_caller(caller: SignedIn) -> Caller:
    # An import writes password hashes and roles: more than an admin may grant by hand.
    if caller.user.role != "superadmin":
        raise Forbidden("Imports require the superadmin role")
    return caller


Superadmin = Annotated[Caller, Depends(superadmin_caller)]


def answer(response: Response, created: bool) -> None:
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK


@router.post(
    "/users",
    response_model=Imported,
    status_code=status.HTTP_201_CREATED,
    responses=created_or_replayed(Imported),
)
async def import_user(
    body: UserImport, _: Superadmin, db: SessionDep, response: Response
) -> Imported:
    """Import one account with its bcrypt hash (201), or find it imported already (200)."""
    user, created = await Imports(db).user(body)
    answer(response, created)
    return Imported(id=user.id, created=created)


@router.post(
    "/organizations",
    response_model=Imported,
    status_code=status.HTTP_201_CREATED,
    responses=created_or_replayed(Imported),
)
async def import_organization(
    body: OrganizationImport, _: Superadmin, db: SessionDep, response: Response
) -> Imported:
    """Import one organization (201), or find it imported already (200)."""
    org, created = await Imports(db).organization(body)
    answer(response, created)
    return Imported(id=org.id, created=created)


@router.put(
    "/organizations/{org_id}/members/{user_id}",
    response_model=Imported,
    responses=created_or_replayed(Imported),
)
async def import_member(
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    body: MemberImport,
    _: Superadmin,
    db: SessionDep,
    response: Response,
) -> Imported:
    """Make an imported account a member of an imported organization (201; 200 if it is)."""
    created = await Imports(db).member(org_id, user_id, body.role)
    answer(response, created)
    return Imported(id=user_id, created=created)
