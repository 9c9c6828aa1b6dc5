"""Routes for users: balance, history, limits, stats and the extension's analytics."""

from __future__ import annotations

from fastapi import APIRouter, Query, status

from tollgate.shared.db import SessionDep
from tollgate.shared.inputs import BoundedDate
from tollgate.shared.openapi import problems
from tollgate.shared.security import CurrentUser
from tollgate.usage.analytics import service
from tollgate.usage.analytics.schemas import (
    AnalyticsOut,
    BalanceOut,
    GroupBy,
    LimitsOut,
    StatsOut,
    SubscriptionUsageOut,
    TrackIn,
    TrackOut,
    UsagePage,
)
from tollgate.usage.deps import SettingsDep

# A date range reversed or too long (400); feature events beyond the daily allowance (429).
router = APIRouter(tags=["usage"], responses=problems(400, 429))


@router.get("/api/tokens/balance", response_model=BalanceOut)
async def token_balance(
    user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> BalanceOut:
    """The caller's spendable tokens, what is held, used this period, and the grants."""
    return await service.balance(session, settings, user)


@router.get("/api/tokens/usage", response_model=UsagePage)
async def token_usage(
    user: CurrentUser,
    session: SessionDep,
    page: int = Query(1, ge=1, le=100_000),
    page_size: int = Query(50, ge=1, le=200),
) -> UsagePage:
    """The caller's metered calls, newest first."""
    return await service.usage_history(session, user, page, page_size)


@router.get("/api/tokens/limits", response_model=LimitsOut)
async def token_limits(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> LimitsOut:
    """The caller's plan limits, member cap and today's request count."""
    return await service.limits(session, settings, user)


@router.get("/api/subscriptions/usage", response_model=SubscriptionUsageOut)
async def subscription_usage(
    user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> SubscriptionUsageOut:
    """How much of this period's allocation has been used."""
    return await service.subscription_usage(session, settings, user)


@router.get("/api/usage/stats", response_model=StatsOut)
async def usage_stats(
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    group_by: GroupBy = "day",
    start: BoundedDate | None = None,
    end: BoundedDate | None = None,
    model: str | None = Query(None, max_length=200, description="Only this model's calls"),
) -> StatsOut:
    """The caller's usage between two dates (inclusive), by day, model, provider or feature."""
    return await service.stats(session, settings, user, group_by, start, end, model)


@router.post("/api/vscode/usage/track", status_code=status.HTTP_202_ACCEPTED)
async def track_feature_usage(
    body: TrackIn, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> TrackOut:
    """Record what the extension did (not billing); at most a few hundred events a minute."""
    return await service.track(session, settings, user, body)


@router.get("/api/vscode/analytics", response_model=AnalyticsOut)
async def extension_analytics(
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    days: int = Query(30, ge=1, le=366),
) -> AnalyticsOut:
    """The caller's feature use and token totals over the last ``days`` days."""
    return await service.extension_analytics(session, settings, user, days)
