"""Plans as the API shows them."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def number_not_text(value: Any) -> Any:
    """Money is a JSON number: ``"19.00"`` or ``true`` is refused, not coerced."""
    if isinstance(value, (str, bool)):
        raise ValueError("must be a number, not a string or a boolean")
    return value


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    price: Decimal
    currency: str
    interval: str
    # The price of a year paid at once; None: the plan is sold monthly only.
    yearly_price: Decimal | None = None
    # Days of free trial a first subscription may start with; 0: none.
    trial_days: int = 0
    monthly_tokens: int
    limits: dict[str, Any]
    features: list[str]
    active: bool


class PlanUpdate(BaseModel):
    """Fields an admin may change; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100)
    price: Annotated[Decimal, BeforeValidator(number_not_text)] | None = Field(
        None, ge=0, max_digits=12, decimal_places=2
    )
    monthly_tokens: int | None = Field(None, ge=0, strict=True)
    limits: dict[str, Any] | None = None
    features: list[str] | None = None
    stripe_price_id: str | None = Field(None, min_length=1, max_length=255)
    yearly_price: Annotated[Decimal, BeforeValidator(number_not_text)] | None = Field(
        None, gt=0, max_digits=12, decimal_places=2
    )
    stripe_yearly_price_id: str | None = Field(None, min_length=1, max_length=255)
    # Whole days; 0 withdraws the trial offer (subscribers already trialing keep theirs).
    trial_days: int | None = Field(None, ge=0, le=365, strict=True)
    active: bool | None = None
