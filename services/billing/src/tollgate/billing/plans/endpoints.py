"""Routes of the plan catalog."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter

from tollgate.billing.models import price_list
from tollgate.billing.plans import repository, service
from tollgate.billing.plans.schemas import PlanModelPrice, PlanOut, PlanUpdate
from tollgate.shared.db import SessionDep
from tollgate.shared.messaging.events import PricePerMillion
from tollgate.shared.model_prices import read_price_list
from tollgate.shared.openapi import problems
from tollgate.shared.security import AdminUser


def with_prices(plan: PlanOut, prices: Mapping[str, PricePerMillion]) -> PlanOut:
    """The plan with the price of each model it allows (``*``: every priced model)."""
    allowed = plan.limits.get("allowed_models") or []
    models = sorted(prices) if "*" in allowed else [m for m in allowed if m in prices]
    plan.model_prices = [
        PlanModelPrice(
            model=m,
            input_per_million=prices[m].input_per_million,
            output_per_million=prices[m].output_per_million,
        )
        for m in models
    ]
    return plan


router = APIRouter(tags=["plans"], responses=problems(400))


@router.get("/api/subscriptions/plans", response_model=list[PlanOut])
async def list_plans(session: SessionDep) -> list[PlanOut]:
    """The plans anyone may subscribe to, cheapest first, with their trial and yearly offers
    and the price of each model they allow."""
    prices = await read_price_list(session, price_list)
    plans = await repository.list_active(session)
    return [with_prices(service.public(p), prices) for p in plans]


@router.put("/api/admin/plans/{code}", response_model=PlanOut)
async def update_plan(code: str, change: PlanUpdate, session: SessionDep, _: AdminUser) -> PlanOut:
    """Change a plan of the catalog (admins). Existing subscribers see it at their next change."""
    return PlanOut.model_validate(await service.update_plan(session, code, change))
