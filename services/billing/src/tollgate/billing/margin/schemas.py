from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from tollgate.shared.decimals import PlainDecimal


class ModelMargin(BaseModel):
    model: str
    requests: int
    charged_credits: int
    revenue: PlainDecimal = Field(
        description="The plan's revenue times this model's share of the credits its accounts spent"
    )
    provider_cost: PlainDecimal
    margin: PlainDecimal


class PlanMargin(BaseModel):
    plan: str
    revenue: PlainDecimal = Field(description="Payments received in the range, less refunds")
    provider_cost: PlainDecimal = Field(description="What the providers charged for its calls")
    margin: PlainDecimal
    models: list[ModelMargin]


class MarginOut(BaseModel):
    start: date
    end: date
    currency: str = Field(description="Revenue and provider cost are both in this currency")
    revenue: PlainDecimal
    provider_cost: PlainDecimal
    margin: PlainDecimal
    plans: list[PlanMargin]
