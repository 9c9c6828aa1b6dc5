from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from tollgate.usage.ledger.domain import MAX_PRICE_PER_MILLION

# Whole credits only: strict, so 1.5, "1000" and true are refused rather than coerced.
PerMillion = Annotated[int, Field(strict=True, gt=0, le=MAX_PRICE_PER_MILLION)]
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$"


class PriceIn(BaseModel):
    input_per_million: PerMillion = Field(description="Credits per million input tokens")
    output_per_million: PerMillion = Field(description="Credits per million output tokens")


class PriceOut(BaseModel):
    model: str
    input_per_million: int
    output_per_million: int
    effective_from: datetime


class PriceListOut(BaseModel):
    version: int = Field(description="Rises with every change of any model's price")
    unit: Literal["credits"] = "credits"
    prices: list[PriceOut]


class PriceHistoryOut(BaseModel):
    model: str
    unit: Literal["credits"] = "credits"
    prices: list[PriceOut] = Field(description="Newest first")
