"""Small builders for the events tests publish."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tollgate.shared.messaging.events import SubscriptionChanged, UsageRecorded


def usage_recorded(
    user_id: uuid.UUID,
    *,
    reservation_id: uuid.UUID | None = None,
    request_id: str | None = None,
    prompt_tokens: int = 100,
    completion_tokens: int = 50,
    model: str = "gpt-4o-mini",
    provider: str = "openrouter",
    endpoint: str = "chat.completions",
    status: str = "success",
    started_at: datetime | None = None,
    org_id: uuid.UUID | None = None,
    cost_usd: str = "0.0012",
    **extra: Any,
) -> UsageRecorded:
    return UsageRecorded(
        request_id=request_id or uuid.uuid4().hex,
        reservation_id=reservation_id,
        user_id=user_id,
        org_id=org_id,
        model=model,
        provider=provider,
        endpoint=endpoint,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
        cost_usd=Decimal(cost_usd),
        status=status,
        latency_ms=120,
        ttft_ms=40,
        started_at=started_at or datetime.now().astimezone(),
        **extra,
    )


def subscription_changed(
    account_id: uuid.UUID,
    *,
    sequence: int,
    plan: str = "pro",
    monthly_tokens: int = 5_000_000,
    period_start: datetime,
    period_days: int = 30,
    status: str = "active",
    org_id: uuid.UUID | None = None,
) -> SubscriptionChanged:
    return SubscriptionChanged(
        account_id=account_id,
        user_id=None if org_id else account_id,
        org_id=org_id,
        plan=plan,
        status=status,
        current_period_start=period_start,
        current_period_end=period_start + timedelta(days=period_days),
        monthly_tokens=monthly_tokens,
        limits={},
        sequence=sequence,
    )
