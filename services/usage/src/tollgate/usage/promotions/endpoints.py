"""``/api/promotions/redeem`` for people; ``/api/admin/promotion-codes`` for admins."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, status

from tollgate.shared.db import SessionDep
from tollgate.shared.openapi import problems
from tollgate.shared.security import AdminUser, CurrentUser
from tollgate.usage.deps import SettingsDep
from tollgate.usage.promotions import service
from tollgate.usage.promotions.schemas import (
    PromotionCodeIn,
    PromotionCodeList,
    PromotionCodeOut,
    RedeemIn,
    RedemptionOut,
)

router = APIRouter(tags=["promotions"])


@router.post(
    "/api/promotions/redeem",
    status_code=status.HTTP_201_CREATED,
    response_model=RedemptionOut,
    responses=problems(403, 404, 409, 410),
)
async def redeem(
    body: RedeemIn, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> RedemptionOut:
    """Redeem a promotion code: its credits become a grant on the account that pays for you."""
    return await service.redeem(session, settings, user, body)


@router.post(
    "/api/admin/promotion-codes",
    status_code=status.HTTP_201_CREATED,
    response_model=PromotionCodeOut,
    responses=problems(409),
)
async def create_code(
    body: PromotionCodeIn, admin: AdminUser, session: SessionDep
) -> PromotionCodeOut:
    """Create a promotion code (its text generated when none is given)."""
    return await service.create_code(session, admin, body)


@router.get("/api/admin/promotion-codes", response_model=PromotionCodeList)
async def list_codes(
    admin: AdminUser, session: SessionDep, limit: int = Query(200, ge=1, le=1000)
) -> PromotionCodeList:
    """Promotion codes, newest first, with how often each was redeemed."""
    return await service.list_codes(session, limit)


@router.post(
    "/api/admin/promotion-codes/{code_id}/deactivate",
    response_model=PromotionCodeOut,
    responses=problems(404),
)
async def deactivate_code(
    code_id: uuid.UUID, admin: AdminUser, session: SessionDep
) -> PromotionCodeOut:
    """Withdraw a promotion code: nobody can redeem it any more; grants made stay."""
    return await service.deactivate_code(session, code_id)
