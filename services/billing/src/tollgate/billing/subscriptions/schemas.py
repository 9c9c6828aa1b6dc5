"""Request and response bodies of /api/subscriptions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl


class AccountChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Set to act on the caller's organization's subscription instead of their own.
    org_id: uuid.UUID | None = None


class SubscribeRequest(AccountChoice):
    plan: str = Field(min_length=1, max_length=40)
    seats: int = Field(1, ge=1, le=10_000, strict=True)
    # Pay by the month, or a year at once (plans with a yearly price).
    interval: Literal["month", "year"] = "month"
    # Start with the plan's free trial (one per account; no card needed to start it).
    trial: bool = Field(False, strict=True)
    # A saved card (pm_...): subscribe at once, without a Checkout page.
    payment_method_id: str | None = Field(None, min_length=3, max_length=255)
    success_url: HttpUrl | None = None
    cancel_url: HttpUrl | None = None


class ChangePlanRequest(AccountChoice):
    plan: str = Field(min_length=1, max_length=40)


class CancelRequest(AccountChoice):
    # False (the default): keep the plan until the end of the paid period.
    immediately: bool = False


class PortalRequest(AccountChoice):
    return_url: HttpUrl | None = None


class CheckoutOut(BaseModel):
    checkout_url: str
    session_id: str


class SubscriptionOut(BaseModel):
    account_id: uuid.UUID
    user_id: uuid.UUID
    org_id: uuid.UUID | None
    plan: str
    status: str
    seats: int
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    scheduled_plan: str | None
    scheduled_at: datetime | None
    # month | year: how often Stripe charges (the allocation still comes monthly).
    billing_interval: str = "month"
    # While status is "trialing": when the trial ends.
    trial_end: datetime | None = None
    # Whether the account has had its one trial.
    trial_used: bool = False
    monthly_tokens: int
    limits: dict[str, Any]
    # "stripe" when Stripe bills it; "tollgate" for free and complimentary plans.
    billed_by: str
    sequence: int


class SubscribeOut(BaseModel):
    checkout: CheckoutOut | None = None
    subscription: SubscriptionOut | None = None
