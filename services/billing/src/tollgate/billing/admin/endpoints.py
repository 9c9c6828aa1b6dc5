"""Billing's admin route for a user's plan (revenue and refunds are with invoices)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tollgate.billing.admin import service
from tollgate.billing.context import BillingDep
from tollgate.billing.subscriptions.schemas import SubscriptionOut
from tollgate.shared.db import SessionDep
from tollgate.shared.openapi import problems
from tollgate.shared.security import AdminUser

router = APIRouter(prefix="/api/admin", tags=["admin"], responses=problems(400, 409))


class SetPlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: str = Field(min_length=1, max_length=40)


@router.put("/users/{user_id}/plan", response_model=SubscriptionOut)
async def set_plan(
    user_id: uuid.UUID, body: SetPlanRequest, session: SessionDep, billing: BillingDep, _: AdminUser
) -> SubscriptionOut:
    """Put a user on a plan (admins): changed in Stripe if Stripe bills them, else complimentary."""
    return await service.set_plan(session, billing.stripe, user_id, body.plan)
