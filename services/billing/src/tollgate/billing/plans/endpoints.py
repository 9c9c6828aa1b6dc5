"""Routes of the plan catalog."""

from __future__ import annotations

from fastapi import APIRouter

from tollgate.billing.plans import repository, service
from tollgate.billing.plans.schemas import PlanOut, PlanUpdate
from tollgate.shared.db import SessionDep
from tollgate.shared.openapi import problems
from tollgate.shared.security import AdminUser

router = APIRouter(tags=["plans"], responses=problems(400))


@router.get("/api/subscriptions/plans", response_model=list[PlanOut])
async def list_plans(session: SessionDep) -> list[PlanOut]:
    """The plans anyone may subscribe to, cheapest first, with their trial and yearly offers."""
    return [service.public(p) for p in await repository.list_active(session)]


@router.put("/api/admin/plans/{code}", response_model=PlanOut)
async def update_plan(code: str, change: PlanUpdate, session: SessionDep, _: AdminUser) -> PlanOut:
    """Change a plan of the catalog (admins). Existing subscribers see it at their next change."""
    return PlanOut.model_validate(await service.update_plan(session, code, change))
