"""Queries over usage records, the daily rollup and feature events."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, cast, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.usage.models import Account, DailyUsage, FeatureEvent, UsageRecord

_SUMS = (
    func.coalesce(func.sum(DailyUsage.requests), 0).label("requests"),
    func.coalesce(func.sum(DailyUsage.prompt_tokens), 0).label("prompt_tokens"),
    func.coalesce(func.sum(DailyUsage.completion_tokens), 0).label("completion_tokens"),
    func.coalesce(func.sum(DailyUsage.total_tokens), 0).label("total_tokens"),
    func.coalesce(func.sum(DailyUsage.charged_credits), 0).label("charged_credits"),
    func.coalesce(func.sum(DailyUsage.cost_usd), 0).label("cost_usd"),
)
DAY = timedelta(days=1)
GROUP_COLUMNS: dict[str, Any] = {
    "day": DailyUsage.day,
    "model": DailyUsage.model,
    "provider": DailyUsage.provider,
    "feature": DailyUsage.feature,
}


async def charged_between(
    session: AsyncSession, account_id: uuid.UUID, start: datetime, end: datetime
) -> int:
    """Credits charged for calls that started in [start, end); a late event counts where it
    began."""
    return await _sum_between(session, account_id, start, end, "charged_credits")


async def requests_between(
    session: AsyncSession, account_id: uuid.UUID, start: datetime, end: datetime
) -> int:
    return await _sum_between(session, account_id, start, end, "requests")


async def _sum_between(
    session: AsyncSession, account_id: uuid.UUID, start: datetime, end: datetime, what: str
) -> int:
    """Whole UTC days from the daily rollup, the partial days at either end from the calls.

    Summing a period's calls one by one took 250 ms for an account with a million of
    them (bench/web); the rollup holds each day's sums, kept in the same transaction as
    the calls, so only the hours before the first midnight and after the last are read
    from the calls themselves.
    """
    first_midnight = _midnight(start) + (timedelta(0) if start == _midnight(start) else DAY)
    last_midnight = _midnight(end)
    if first_midnight >= last_midnight:
        return await _sum_calls(session, account_id, start, end, what)
    days = await session.scalar(
        select(func.coalesce(func.sum(getattr(DailyUsage, what)), 0)).where(
            DailyUsage.account_id == account_id,
            DailyUsage.day >= first_midnight.date(),
            DailyUsage.day < last_midnight.date(),
        )
    )
    before = await _sum_calls(session, account_id, start, first_midnight, what)
    after = await _sum_calls(session, account_id, last_midnight, end, what)
    return int(days or 0) + before + after


async def _sum_calls(
    session: AsyncSession, account_id: uuid.UUID, start: datetime, end: datetime, what: str
) -> int:
    if start >= end:
        return 0
    measure = func.count() if what == "requests" else func.sum(UsageRecord.charged_credits)
    total = await session.scalar(
        select(func.coalesce(measure, 0)).where(
            UsageRecord.account_id == account_id,
            UsageRecord.started_at >= start,
            UsageRecord.started_at < end,
        )
    )
    return int(total or 0)


def _midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


async def usage_page(
    session: AsyncSession, user_id: uuid.UUID, page: int, page_size: int
) -> tuple[list[UsageRecord], int]:
    # The rollup counts every recorded call (written with it); counting the calls
    # themselves took a second for a million of them (bench/web).
    total = await session.scalar(
        select(func.coalesce(func.sum(DailyUsage.requests), 0)).where(DailyUsage.user_id == user_id)
    )
    rows = await session.scalars(
        select(UsageRecord)
        .where(UsageRecord.user_id == user_id)
        .order_by(UsageRecord.started_at.desc(), UsageRecord.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return list(rows), int(total or 0)


def _rollup_conditions(
    start: date,
    end: date,
    user_id: uuid.UUID | None,
    model: str | None,
    account_id: uuid.UUID | None = None,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [DailyUsage.day >= start, DailyUsage.day <= end]
    if user_id is not None:
        conditions.append(DailyUsage.user_id == user_id)
    if account_id is not None:
        conditions.append(DailyUsage.account_id == account_id)
    if model is not None:
        conditions.append(DailyUsage.model == model)
    return conditions


async def grouped_stats(
    session: AsyncSession,
    group_by: str,
    start: date,
    end: date,
    *,
    user_id: uuid.UUID | None = None,
    model: str | None = None,
    limit: int | None = None,
    account_id: uuid.UUID | None = None,
) -> list[Any]:
    """Sums from the daily rollup for [start, end], grouped; all users when user_id is None."""
    key = GROUP_COLUMNS[group_by]
    conditions = _rollup_conditions(start, end, user_id, model, account_id)
    query = select(key.label("key"), *_SUMS).where(*conditions).group_by(key).order_by(key)
    if limit is not None:
        query = query.limit(limit)
    return list((await session.execute(query)).all())


async def total_stats(
    session: AsyncSession,
    start: date,
    end: date,
    *,
    user_id: uuid.UUID | None = None,
    model: str | None = None,
    account_id: uuid.UUID | None = None,
) -> Any:
    conditions = _rollup_conditions(start, end, user_id, model, account_id)
    return (await session.execute(select(*_SUMS).where(*conditions))).one()


async def member_totals(
    session: AsyncSession, account_ids: list[uuid.UUID], start: date, end: date
) -> list[Any]:
    """Each user's sums in these shared accounts for [start, end], keyed by (account, user)."""
    if not account_ids:
        return []
    query = (
        select(DailyUsage.account_id, DailyUsage.user_id, *_SUMS)
        .where(
            DailyUsage.account_id.in_(account_ids), DailyUsage.day >= start, DailyUsage.day <= end
        )
        .group_by(DailyUsage.account_id, DailyUsage.user_id)
    )
    return list((await session.execute(query)).all())


async def top_accounts(session: AsyncSession, start: date, end: date, limit: int) -> list[Any]:
    total_tokens = func.sum(DailyUsage.total_tokens)
    query = (
        select(
            DailyUsage.account_id,
            func.sum(DailyUsage.requests).label("requests"),
            total_tokens.label("total_tokens"),
            func.sum(DailyUsage.cost_usd).label("cost_usd"),
        )
        .where(DailyUsage.day >= start, DailyUsage.day <= end)
        .group_by(DailyUsage.account_id)
        .order_by(total_tokens.desc())
        .limit(limit)
    )
    return list((await session.execute(query)).all())


async def add_feature_events(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(FeatureEvent), rows)


async def feature_events_since(session: AsyncSession, user_id: uuid.UUID, since: datetime) -> int:
    total = await session.scalar(
        select(func.count()).where(
            FeatureEvent.user_id == user_id, FeatureEvent.received_at >= since
        )
    )
    return int(total or 0)


async def feature_counts(session: AsyncSession, user_id: uuid.UUID, since: datetime) -> list[Any]:
    query = (
        select(FeatureEvent.feature, FeatureEvent.action, func.sum(FeatureEvent.count))
        .where(FeatureEvent.user_id == user_id, FeatureEvent.occurred_at >= since)
        .group_by(FeatureEvent.feature, FeatureEvent.action)
        .order_by(FeatureEvent.feature, FeatureEvent.action)
    )
    return list((await session.execute(query)).all())


async def feature_days(session: AsyncSession, user_id: uuid.UUID, since: datetime) -> list[Any]:
    day = cast(func.timezone("UTC", FeatureEvent.occurred_at), Date)
    query = (
        select(day, func.sum(FeatureEvent.count))
        .where(FeatureEvent.user_id == user_id, FeatureEvent.occurred_at >= since)
        .group_by(day)
        .order_by(day)
    )
    return list((await session.execute(query)).all())


async def costs_by_plan_and_model(session: AsyncSession, start: date, end: date) -> list[Any]:
    """Calls that started in [start, end] (UTC days), per the paying account's plan and model:
    requests, tokens, credits charged and what the providers charged (``cost_usd``)."""
    since = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    result = await session.execute(
        select(
            Account.plan,
            UsageRecord.model,
            func.count().label("requests"),
            func.sum(UsageRecord.total_tokens).label("total_tokens"),
            func.sum(UsageRecord.charged_credits).label("charged_credits"),
            func.sum(UsageRecord.cost_usd).label("cost_usd"),
        )
        .join(Account, Account.id == UsageRecord.account_id)
        .where(UsageRecord.started_at >= since, UsageRecord.started_at < until)
        .group_by(Account.plan, UsageRecord.model)
        .order_by(Account.plan, UsageRecord.model)
    )
    return list(result.all())
