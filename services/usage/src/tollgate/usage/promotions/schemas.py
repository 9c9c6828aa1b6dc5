from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tollgate.shared.inputs import BoundedDatetime
from tollgate.usage.analytics.schemas import GrantOut
from tollgate.usage.promotions.rules import CODE_PATTERN, normalise_code

# A code worth more than this is a typo, not a promotion (the largest plan grants 10^9).
MAX_CODE_CREDITS = 1_000_000_000
MAX_REDEMPTIONS = 1_000_000


class PromotionCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Left out: one is generated.
    code: str | None = Field(default=None, max_length=80)
    # strict: "100" and 2.5 are refused, not coerced or rounded.
    credits: int = Field(ge=1, le=MAX_CODE_CREDITS, strict=True)
    expires_at: BoundedDatetime
    max_redemptions: int = Field(ge=1, le=MAX_REDEMPTIONS, strict=True)
    grant_valid_days: int | None = Field(default=None, ge=1, le=3650, strict=True)
    description: str | None = Field(default=None, max_length=500)

    @field_validator("code")
    @classmethod
    def _code_text(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = normalise_code(value)
        if not CODE_PATTERN.match(code):
            raise ValueError(
                "a code is 4 to 40 letters, digits or dashes, starting with one of the first two"
            )
        return code


class PromotionCodeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    credits: int
    expires_at: datetime
    max_redemptions: int
    redemptions: int
    # Per account, always: a code is redeemed once by each account that pays.
    once_per_account: bool = True
    grant_valid_days: int | None
    description: str | None
    active: bool
    deactivated_at: datetime | None
    created_at: datetime


class PromotionCodeList(BaseModel):
    items: list[PromotionCodeOut]


class RedeemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=80)


class RedemptionOut(BaseModel):
    code: str
    credits: int
    account_id: uuid.UUID
    grant: GrantOut
