"""Routes of /api/subscriptions (plans are in the plans feature)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header

from tollgate.billing.context import BillingDep
from tollgate.billing.subscriptions import service
from tollgate.billing.subscriptions.schemas import (
    AccountChoice,
    CancelRequest,
    ChangePlanRequest,
    SubscribeOut,
    SubscribeRequest,
    SubscriptionOut,
)
from tollgate.shared.db import SessionDep
from tollgate.shared.openapi import problems
from tollgate.shared.security import CurrentUser

# An unknown plan (400), another's organization (403), nothing to cancel or resume (409).
router = APIRouter(
    prefix="/api/subscriptions",
    tags=["subscriptions"],
    responses=problems(400, 403, 404, 409),
)

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


@router.get("/current", response_model=SubscriptionOut)
async def current(
    session: SessionDep, user: CurrentUser, org_id: uuid.UUID | None = None
) -> SubscriptionOut:
    """The caller's subscription (or their organization's, with ``org_id``)."""
    return await service.current(session, user, org_id)


@router.post("/subscribe", response_model=SubscribeOut)
async def subscribe(
    body: SubscribeRequest,
    session: SessionDep,
    billing: BillingDep,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> SubscribeOut:
    """Start a paid plan: a Stripe Checkout URL, or at once with a saved payment method."""
    return await service.subscribe(
        session, billing.stripe, billing.settings, user, body, idempotency_key
    )


@router.put("/upgrade", response_model=SubscriptionOut)
async def upgrade(
    body: ChangePlanRequest, session: SessionDep, billing: BillingDep, user: CurrentUser
) -> SubscriptionOut:
    """Change plan: upgrades now with proration, downgrades at the end of the period."""
    return await service.change_plan(session, billing.stripe, user, body)


@router.post("/cancel", response_model=SubscriptionOut)
async def cancel(
    session: SessionDep, billing: BillingDep, user: CurrentUser, body: CancelRequest | None = None
) -> SubscriptionOut:
    """Cancel at the end of the period (default) or immediately; the account returns to free."""
    body = body or CancelRequest()
    return await service.cancel(
        session, billing.stripe, user, body.org_id, immediately=body.immediately
    )


@router.post("/resume", response_model=SubscriptionOut)
async def resume(
    session: SessionDep, billing: BillingDep, user: CurrentUser, body: AccountChoice | None = None
) -> SubscriptionOut:
    """Undo a cancellation that has not taken effect yet."""
    body = body or AccountChoice()
    return await service.resume(session, billing.stripe, user, body.org_id)
