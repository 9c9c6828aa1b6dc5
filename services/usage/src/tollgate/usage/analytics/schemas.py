from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from tollgate.shared.decimals import PlainDecimal
from tollgate.shared.inputs import BoundedDatetime


class GrantOut(BaseModel):
    id: uuid.UUID
    source: str
    amount: int
    used: int
    remaining: int
    priority: int
    starts_at: datetime
    expires_at: datetime | None
    reason: str | None


class BalanceOut(BaseModel):
    account_id: uuid.UUID
    account_kind: str
    plan: str
    available: int
    reserved: int
    used_this_period: int
    allocation: int
    period_start: datetime
    period_end: datetime
    member_cap: int | None
    grants: list[GrantOut]
    unit: Literal["credits"] = Field(
        "credits", description="What every amount here counts: credits, priced per model"
    )


class UsageRecordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    request_id: str
    account_id: uuid.UUID
    model: str
    provider: str
    endpoint: str
    feature: str
    status: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    charged_credits: int = Field(description="What the call was charged, in credits")
    input_per_million: int | None = Field(
        description="The price it was charged at (none for usage imported from elsewhere)"
    )
    output_per_million: int | None
    unit: Literal["credits"] = "credits"
    cost_usd: PlainDecimal
    latency_ms: int | None
    api_key_id: uuid.UUID | None
    session_id: uuid.UUID | None
    started_at: datetime

    @computed_field(description="Same as charged_credits (its name before prices)")  # type: ignore[prop-decorator]
    @property
    def charged_tokens(self) -> int:
        return self.charged_credits


class UsagePage(BaseModel):
    items: list[UsageRecordOut]
    page: int
    page_size: int
    total: int


class LimitsOut(BaseModel):
    account_id: uuid.UUID
    plan: str
    monthly_tokens: int
    limits: dict[str, Any]
    member_cap: int | None
    daily_requests_used: int
    unit: Literal["credits"] = Field(
        "credits", description="What monthly_tokens and member_cap count (names older than prices)"
    )


class SubscriptionUsageOut(BaseModel):
    plan: str
    status: str
    period_start: datetime
    period_end: datetime
    allocation: int
    used: int
    reserved: int
    available: int
    requests: int
    percent_used: float
    unit: Literal["credits"] = "credits"


GroupBy = Literal["day", "model", "provider", "feature"]


class StatsRow(BaseModel):
    key: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    charged_tokens: int = Field(description="Same as charged_credits (older name)")
    charged_credits: int
    cost_usd: PlainDecimal


class StatsOut(BaseModel):
    group_by: GroupBy
    start: date
    end: date
    items: list[StatsRow]
    totals: StatsRow
    unit: Literal["credits"] = "credits"


class MemberUsageOut(BaseModel):
    """What one member or sub-user spent from the shared account in the range."""

    account_id: uuid.UUID
    user_id: uuid.UUID
    kind: Literal["org", "sub_user"]
    role: str | None
    active: bool
    cap_tokens: int | None
    totals: StatsRow


class MembersUsageOut(BaseModel):
    start: date
    end: date
    members: list[MemberUsageOut]


class FeatureEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feature: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
    action: str = Field(default="used", pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
    count: int = Field(default=1, ge=1, le=10_000)
    occurred_at: BoundedDatetime | None = None
    attributes: dict[str, str | int | float | bool] | None = None

    @field_validator("attributes")
    @classmethod
    def _small(
        cls, value: dict[str, str | int | float | bool] | None
    ) -> dict[str, str | int | float | bool] | None:
        if value is None:
            return None
        if len(value) > 20:
            raise ValueError("at most 20 attributes")
        for key, item in value.items():
            if len(key) > 64 or (isinstance(item, str) and len(item) > 256):
                raise ValueError("attribute keys ≤ 64 and values ≤ 256 characters")
        return value


class TrackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[FeatureEventIn] = Field(min_length=1, max_length=100)


class TrackOut(BaseModel):
    accepted: int


class FeatureCount(BaseModel):
    feature: str
    action: str
    count: int


class DayCount(BaseModel):
    day: date
    count: int


class AnalyticsOut(BaseModel):
    days: int
    features: list[FeatureCount]
    by_day: list[DayCount]
    tokens_used: int
    requests: int


class AdminGrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID
    amount: int = Field(ge=1, le=1_000_000_000, strict=True)  # "100" is refused, not coerced
    source: Literal["admin", "promotional"] = "admin"
    priority: int = Field(default=0, ge=-1000, le=1000)
    expires_at: BoundedDatetime | None = None
    reason: str = Field(min_length=1, max_length=500)


class AccountTotal(BaseModel):
    account_id: uuid.UUID
    requests: int
    total_tokens: int
    cost_usd: PlainDecimal


class AdminStatsOut(BaseModel):
    start: date
    end: date
    totals: StatsRow
    by_model: list[StatsRow]
    top_accounts: list[AccountTotal]


class CapIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cap_tokens: int | None = Field(ge=0, le=1_000_000_000_000, strict=True)


class CapOut(BaseModel):
    account_id: uuid.UUID
    user_id: uuid.UUID
    cap_tokens: int | None


class PlanModelCost(BaseModel):
    plan: str = Field(description="The paying account's plan as usage knows it now")
    model: str
    requests: int
    total_tokens: int
    charged_credits: int
    cost_usd: PlainDecimal = Field(description="What the providers charged for these calls")


class UsageCostsOut(BaseModel):
    start: date
    end: date
    items: list[PlanModelCost]
