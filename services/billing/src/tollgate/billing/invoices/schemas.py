"""Invoices, payments, refunds and revenue as the API shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from tollgate.shared.decimals import PlainDecimal

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class InvoiceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    number: str | None
    status: str
    currency: str
    # In the currency's smallest unit (cents): the price before discounts, what a
    # promotion code took off (and the code), and what was due and paid after it.
    subtotal: int | None = None
    discount: int = 0
    promotion_code: str | None = None
    amount_due: int
    amount_paid: int
    hosted_invoice_url: str | None
    period_start: datetime | None
    period_end: datetime | None
    created: datetime
    paid_at: datetime | None


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    invoice_id: str | None
    status: str
    currency: str
    amount: int
    amount_refunded: int
    created: datetime


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Absent: refund whatever has not been refunded yet.
    amount: int | None = Field(None, gt=0, strict=True)  # cents; "100" is refused
    reason: str | None = Field(None, pattern="^(duplicate|fraudulent|requested_by_customer)$")


class RefundOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    payment_id: str
    amount: int
    currency: str
    status: str
    reason: str | None
    requested_by: uuid.UUID
    created_at: datetime


class MonthRevenue(BaseModel):
    month: str  # YYYY-MM
    currency: str
    gross: int
    refunded: int
    net: int


class PlanCount(BaseModel):
    plan: str
    billed_by: str
    subscriptions: int
    seats: int


class RevenueOut(BaseModel):
    currency: str
    mrr: PlainDecimal  # monthly recurring revenue of Stripe-billed subscriptions, in major units
    arr: PlainDecimal
    paying_subscriptions: int
    active_subscriptions: list[PlanCount]
    revenue_by_month: list[MonthRevenue]
