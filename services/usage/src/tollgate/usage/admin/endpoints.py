"""``/api/admin``: bonus grants and usage across accounts (admin role)."""

from __future__ import annotations

from fastapi import APIRouter, Query, status

from tollgate.shared.db import SessionDep
from tollgate.shared.inputs import BoundedDate
from tollgate.shared.openapi import problems
from tollgate.shared.security import AdminUser
from tollgate.usage.admin import service
from tollgate.usage.analytics.schemas import (
    AdminGrantIn,
    AdminStatsOut,
    GrantOut,
    UsageCostsOut,
)
from tollgate.usage.deps import SettingsDep

router = APIRouter(prefix="/api/admin", tags=["admin"], responses=problems(400, 404))


@router.post("/grants", status_code=status.HTTP_201_CREATED, response_model=GrantOut)
async def create_grant(body: AdminGrantIn, admin: AdminUser, session: SessionDep) -> GrantOut:
    """Grant bonus or promotional tokens to an account."""
    return await service.grant_bonus(session, admin, body)


@router.get("/usage-stats", response_model=AdminStatsOut)
async def usage_stats(
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    start: BoundedDate | None = None,
    end: BoundedDate | None = None,
    top: int = Query(20, ge=1, le=200),
) -> AdminStatsOut:
    """Usage across every account for a date range: totals, by model, top accounts."""
    return await service.usage_stats(session, settings, start, end, top)


@router.get("/usage-costs", response_model=UsageCostsOut)
async def usage_costs(
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    start: BoundedDate | None = None,
    end: BoundedDate | None = None,
) -> UsageCostsOut:
    """Credits charged and provider cost per plan and model, for calls started in a date range."""
    return await service.usage_costs(session, settings, start, end)
