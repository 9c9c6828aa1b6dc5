"""Bodies of the import routes: opening balances, promotional grants, past usage."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from tollgate.shared.imports import SOURCE_NAME, SourceRef, StrictBody
from tollgate.shared.inputs import BoundedDatetime

MAX_TOKENS = 10**15


class BalanceImport(SourceRef):
    """What an account had left of its current period when it moved in."""

    account_id: uuid.UUID
    kind: Literal["user", "org"] = "user"
    period_start: BoundedDatetime
    period_end: BoundedDatetime
    # The period's allocation under the Tollgate plan (what subscription.changed grants).
    allocation: int = Field(ge=0, le=MAX_TOKENS)
    remaining: int = Field(ge=0, le=MAX_TOKENS)

    @model_validator(mode="after")
    def period_is_forward(self) -> BalanceImport:
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        return self


class GrantImport(SourceRef):
    account_id: uuid.UUID
    kind: Literal["user", "org"] = "user"
    amount: int = Field(ge=1, le=MAX_TOKENS)
    grant_source: Literal["promotional", "admin"] = "promotional"
    starts_at: BoundedDatetime | None = None
    expires_at: BoundedDatetime | None = None
    reason: str = Field(default="moved in from the previous system", max_length=500)


class UsageRowImport(StrictBody):
    source_id: str = Field(min_length=1, max_length=150)
    account_id: uuid.UUID
    user_id: uuid.UUID
    model: str = Field(min_length=1, max_length=200)
    provider: str = Field(default="unknown", min_length=1, max_length=100)
    endpoint: str = Field(default="imported", max_length=100)
    feature: str = Field(default="chat", min_length=1, max_length=100)
    status: str = Field(default="ok", max_length=30)
    prompt_tokens: int = Field(ge=0, le=MAX_TOKENS)
    completion_tokens: int = Field(ge=0, le=MAX_TOKENS)
    total_tokens: int = Field(ge=0, le=MAX_TOKENS)
    cost_usd: Decimal = Field(default=Decimal(0), ge=0, max_digits=18, decimal_places=8)
    started_at: BoundedDatetime


class UsageImport(StrictBody):
    source: str = Field(min_length=1, max_length=40, pattern=SOURCE_NAME)
    records: list[UsageRowImport] = Field(min_length=1, max_length=2000)


class Imported(BaseModel):
    created: bool


class UsageImported(BaseModel):
    imported: int
    skipped: int
