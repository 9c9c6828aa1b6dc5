"""Bodies of the import routes: a subscription, and invoices and payments as history."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, EmailStr, Field, model_validator

from tollgate.shared.imports import SourceRef
from tollgate.shared.inputs import BoundedDatetime

MAX_AMOUNT = 10**15  # in the smallest unit: far above any real invoice, within BIGINT
Currency = Field(default="usd", pattern=r"^[a-z]{3}$")


class SubscriptionImport(SourceRef):
    account_id: uuid.UUID
    user_id: uuid.UUID  # who pays
    org_id: uuid.UUID | None = None
    email: EmailStr | None = None
    name: str | None = Field(default=None, max_length=200)
    plan: str = Field(min_length=1, max_length=40)
    status: Literal["active", "trialing", "past_due", "unpaid", "canceled", "paused"] = "active"
    current_period_start: BoundedDatetime
    current_period_end: BoundedDatetime
    cancel_at_period_end: bool = False
    seats: int = Field(default=1, ge=1, le=100_000)
    stripe_customer_id: str | None = Field(
        default=None, max_length=255, pattern=r"^cus_[A-Za-z0-9]+$"
    )
    stripe_subscription_id: str | None = Field(
        default=None, max_length=255, pattern=r"^sub_[A-Za-z0-9]+$"
    )

    @model_validator(mode="after")
    def period_is_forward(self) -> SubscriptionImport:
        if self.current_period_end <= self.current_period_start:
            raise ValueError("current_period_end must be after current_period_start")
        return self


class InvoiceImport(SourceRef):
    account_id: uuid.UUID
    number: str | None = Field(default=None, max_length=100)
    status: Literal["draft", "open", "paid", "void", "uncollectible"]
    currency: str = Currency
    amount_due: int = Field(ge=0, le=MAX_AMOUNT)  # in the currency's smallest unit
    amount_paid: int = Field(ge=0, le=MAX_AMOUNT)
    created: BoundedDatetime
    paid_at: BoundedDatetime | None = None
    period_start: BoundedDatetime | None = None
    period_end: BoundedDatetime | None = None
    hosted_invoice_url: str | None = Field(default=None, max_length=2000)


class PaymentImport(SourceRef):
    account_id: uuid.UUID
    # The id an earlier invoice import returned, when the payment settled an invoice.
    invoice_id: str | None = Field(default=None, max_length=255)
    status: Literal["succeeded", "pending", "failed", "refunded"]
    currency: str = Currency
    amount: int = Field(ge=0, le=MAX_AMOUNT)
    amount_refunded: int = Field(default=0, ge=0, le=MAX_AMOUNT)
    created: BoundedDatetime

    @model_validator(mode="after")
    def refund_within_amount(self) -> PaymentImport:
        if self.amount_refunded > self.amount:
            raise ValueError("amount_refunded cannot exceed amount")
        return self


class Imported(BaseModel):
    """The record's id here, and whether this call created it (false: already in)."""

    id: str
    created: bool
