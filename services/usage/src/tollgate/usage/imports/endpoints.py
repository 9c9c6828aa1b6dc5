"""``/api/admin/imports``: balances, grants and past usage moved in (superadmins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from tollgate.shared.db import SessionDep
from tollgate.shared.openapi import created_or_replayed
from tollgate.shared.security import Principal, require_role
from tollgate.usage.imports import service
from tollgate.usage.imports.schemas import (
    BalanceImport,
    GrantImport,
    Imported,
    UsageImport,
    UsageImported,
)

router = APIRouter(prefix="/api/admin/imports", tags=["imports"])

Superadmin = Annotated[Principal, Depends(require_role("superadmin"))]


def answer(response: Response, created: bool) -> None:
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK


@router.post(
    "/balances", response_model=Imported, status_code=201, responses=created_or_replayed(Imported)
)
async def import_balance(
    body: BalanceImport, _: Superadmin, session: SessionDep, response: Response
) -> Imported:
    """Set an account's current period to what it had left before the move (200 if done)."""
    created = await service.opening_balance(session, body)
    answer(response, created)
    return Imported(created=created)


@router.post(
    "/grants", response_model=Imported, status_code=201, responses=created_or_replayed(Imported)
)
async def import_grant(
    body: GrantImport, _: Superadmin, session: SessionDep, response: Response
) -> Imported:
    """Carry a promotional or bonus grant over with its expiry (200 if it is in already)."""
    created = await service.promotional_grant(session, body)
    answer(response, created)
    return Imported(created=created)


@router.post("/usage", response_model=UsageImported)
async def import_usage(body: UsageImport, _: Superadmin, session: SessionDep) -> UsageImported:
    """Add past calls to the usage history and its daily rollup; rows already in are skipped."""
    imported, skipped = await service.past_usage(session, body)
    return UsageImported(imported=imported, skipped=skipped)
