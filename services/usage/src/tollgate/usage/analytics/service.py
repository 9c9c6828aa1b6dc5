"""Read models for the caller's balance, history and stats."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.errors import BadRequest, TooManyRequests, UnprocessableEntity
from tollgate.shared.security import Principal
from tollgate.usage.analytics import repository as repo
from tollgate.usage.analytics.schemas import (
    AnalyticsOut,
    BalanceOut,
    DayCount,
    FeatureCount,
    GrantOut,
    GroupBy,
    LimitsOut,
    StatsOut,
    StatsRow,
    SubscriptionUsageOut,
    TrackIn,
    TrackOut,
    UsagePage,
    UsageRecordOut,
)
from tollgate.usage.config import Settings
from tollgate.usage.ledger import repository as ledger
from tollgate.usage.ledger import store
from tollgate.usage.ledger.service import available, ensure_current_period
from tollgate.usage.members.service import Spender, resolve_spender
from tollgate.usage.plans.repository import limits_of
from tollgate.usage.plans.service import current_limits


async def balance(session: AsyncSession, settings: Settings, user: Principal) -> BalanceOut:
    now = datetime.now(UTC)
    spender = await _spender(session, settings, user, now)
    account = spender.account
    current = await available(session, account.id, now)
    room = current.available
    if spender.cap_tokens is not None:
        member = (account.id, user.user_id)
        spent = await store.member_spent(session, {member: account.period_start}, now)
        room = min(room, max(0, spender.cap_tokens - spent[member]))
    grants = await ledger.list_grants(session, account.id, now)
    used = await repo.charged_between(session, account.id, account.period_start, account.period_end)
    return BalanceOut(
        account_id=account.id,
        account_kind=account.kind,
        plan=account.plan,
        available=room,
        reserved=current.held,
        used_this_period=used,
        allocation=account.monthly_tokens,
        period_start=account.period_start,
        period_end=account.period_end,
        member_cap=spender.cap_tokens,
        grants=[
            GrantOut(
                id=g.id,
                source=g.source,
                amount=g.amount,
                used=g.used,
                remaining=g.amount - g.used,
                priority=g.priority,
                starts_at=g.starts_at,
                expires_at=g.expires_at,
                reason=g.reason,
            )
            for g in grants
        ],
    )


async def usage_history(
    session: AsyncSession, user: Principal, page: int, page_size: int
) -> UsagePage:
    rows, total = await repo.usage_page(session, user.user_id, page, page_size)
    return UsagePage(
        items=[UsageRecordOut.model_validate(r) for r in rows],
        page=page,
        page_size=page_size,
        total=total,
    )


async def limits(session: AsyncSession, settings: Settings, user: Principal) -> LimitsOut:
    now = datetime.now(UTC)
    spender = await _spender(session, settings, user, now)
    account = spender.account
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    member = (account.id, user.user_id)
    made_today = await store.requests_since(session, {member}, midnight)
    return LimitsOut(
        account_id=account.id,
        plan=account.plan,
        monthly_tokens=account.monthly_tokens,
        limits=current_limits(
            account.plan, account.limits, await limits_of(session, [account.plan])
        ),
        member_cap=spender.cap_tokens,
        daily_requests_used=made_today.get(member, 0),
    )


async def subscription_usage(
    session: AsyncSession, settings: Settings, user: Principal
) -> SubscriptionUsageOut:
    now = datetime.now(UTC)
    account = (await _spender(session, settings, user, now)).account
    current = await available(session, account.id, now)
    used = await repo.charged_between(session, account.id, account.period_start, account.period_end)
    requests = await repo.requests_between(
        session, account.id, account.period_start, account.period_end
    )
    allocation = account.monthly_tokens
    return SubscriptionUsageOut(
        plan=account.plan,
        status=account.status,
        period_start=account.period_start,
        period_end=account.period_end,
        allocation=allocation,
        used=used,
        reserved=current.held,
        available=current.available,
        requests=requests,
        percent_used=round(100.0 * used / allocation, 2) if allocation else 0.0,
    )


def check_range(
    settings: Settings, start: date | None, end: date | None, default_days: int = 30
) -> tuple[date, date]:
    """[start, end] inclusive; reversed or longer than allowed is the caller's mistake."""
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=default_days - 1)
    if start > end:
        raise BadRequest("start is after end", type_slug="invalid-date-range")
    if (end - start).days + 1 > settings.max_stats_days:
        raise BadRequest(
            f"A date range may span at most {settings.max_stats_days} days",
            type_slug="invalid-date-range",
        )
    return start, end


def stats_row(key: str, row: Any) -> StatsRow:
    return StatsRow(
        key=key,
        requests=int(row.requests),
        prompt_tokens=int(row.prompt_tokens),
        completion_tokens=int(row.completion_tokens),
        total_tokens=int(row.total_tokens),
        charged_tokens=int(row.charged_credits),
        charged_credits=int(row.charged_credits),
        cost_usd=Decimal(row.cost_usd),
    )


async def stats(
    session: AsyncSession,
    settings: Settings,
    user: Principal,
    group_by: GroupBy,
    start: date | None,
    end: date | None,
    model: str | None = None,
) -> StatsOut:
    start, end = check_range(settings, start, end)
    rows = await repo.grouped_stats(
        session, group_by, start, end, user_id=user.user_id, model=model
    )
    totals = await repo.total_stats(session, start, end, user_id=user.user_id, model=model)
    return StatsOut(
        group_by=group_by,
        start=start,
        end=end,
        items=[stats_row(str(r.key), r) for r in rows],
        totals=stats_row("total", totals),
    )


async def track(
    session: AsyncSession, settings: Settings, user: Principal, body: TrackIn
) -> TrackOut:
    now = datetime.now(UTC)
    recent = await repo.feature_events_since(session, user.user_id, now - timedelta(minutes=1))
    if recent + len(body.events) > settings.track_events_per_minute:
        raise TooManyRequests(
            f"At most {settings.track_events_per_minute} feature events per minute",
            retry_after=60,
        )
    rows = []
    for event in body.events:
        occurred = event.occurred_at or now
        if occurred.tzinfo is None:
            occurred = occurred.replace(tzinfo=UTC)
        if occurred > now + timedelta(minutes=5) or occurred < now - timedelta(days=7):
            raise UnprocessableEntity(
                "occurred_at must be within the last 7 days and not in the future"
            )
        rows.append(
            {
                "user_id": user.user_id,
                "feature": event.feature,
                "action": event.action,
                "count": event.count,
                "attributes": event.attributes,
                "occurred_at": occurred,
                "received_at": now,
            }
        )
    await repo.add_feature_events(session, rows)
    return TrackOut(accepted=len(rows))


async def extension_analytics(
    session: AsyncSession, settings: Settings, user: Principal, days: int
) -> AnalyticsOut:
    now = datetime.now(UTC)
    since = now - timedelta(days=days)
    features = await repo.feature_counts(session, user.user_id, since)
    per_day = await repo.feature_days(session, user.user_id, since)
    totals = await repo.total_stats(
        session, (now - timedelta(days=days - 1)).date(), now.date(), user_id=user.user_id
    )
    return AnalyticsOut(
        days=days,
        features=[FeatureCount(feature=f, action=a, count=int(c)) for f, a, c in features],
        by_day=[DayCount(day=d, count=int(c)) for d, c in per_day],
        tokens_used=int(totals.total_tokens),
        requests=int(totals.requests),
    )


async def _spender(
    session: AsyncSession, settings: Settings, user: Principal, now: datetime
) -> Spender:
    spender = await resolve_spender(
        session,
        user.user_id,
        org=user.org,
        parent=user.parent,
        free_tokens=settings.free_monthly_tokens,
        now=now,
    )
    await ensure_current_period(session, spender.account, now)
    return spender
