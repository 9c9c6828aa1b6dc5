from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


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
