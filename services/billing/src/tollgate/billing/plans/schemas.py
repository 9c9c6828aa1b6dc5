"""Plans as the API shows them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    price: Decimal
    currency: str
    interval: str
    monthly_tokens: int
    limits: dict[str, Any]
    features: list[str]
    active: bool


class PlanUpdate(BaseModel):
    """Fields an admin may change; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100)
    price: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2)
    monthly_tokens: int | None = Field(None, ge=0)
    limits: dict[str, Any] | None = None
    features: list[str] | None = None
    stripe_price_id: str | None = Field(None, min_length=1, max_length=255)
    active: bool | None = None
