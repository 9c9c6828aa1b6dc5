"""``/api/admin/model-prices``: what each model costs in credits (admin role)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from tollgate.shared.db import SessionDep
from tollgate.shared.openapi import problems
from tollgate.shared.security import AdminUser
from tollgate.usage.models import messaging
from tollgate.usage.prices import service
from tollgate.usage.prices.schemas import (
    MODEL_NAME_PATTERN,
    PriceHistoryOut,
    PriceIn,
    PriceListOut,
    PriceOut,
)

ModelPath = Annotated[str, Path(pattern=MODEL_NAME_PATTERN, description="The catalog's model id")]

router = APIRouter(prefix="/api/admin/model-prices", tags=["admin"], responses=problems(400))


@router.get("", response_model=PriceListOut)
async def list_prices(admin: AdminUser, session: SessionDep) -> PriceListOut:
    """Every model's price in force, in credits per million input and output tokens."""
    return await service.price_list(session)


@router.get("/{model_id}", response_model=PriceHistoryOut, responses=problems(404))
async def price_history(
    model_id: ModelPath, admin: AdminUser, session: SessionDep
) -> PriceHistoryOut:
    """A model's prices, newest first, each with the moment it took effect."""
    return await service.price_history(session, model_id)


@router.put("/{model_id}", response_model=PriceOut)
async def set_price(
    model_id: ModelPath, body: PriceIn, admin: AdminUser, session: SessionDep
) -> PriceOut:
    """Set a model's price from now on; calls already reserved keep the price they were held at."""
    return await service.set_price(session, messaging.outbox, admin, model_id, body)
