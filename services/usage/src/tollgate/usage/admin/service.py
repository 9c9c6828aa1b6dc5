"""Admin: bonus grants and usage across every account."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.errors import NotFound, UnprocessableEntity
from tollgate.shared.security import Principal
from tollgate.usage.analytics import repository as stats_repo
from tollgate.usage.analytics.schemas import (
    AccountTotal,
    AdminGrantIn,
    AdminStatsOut,
    GrantOut,
    PlanModelCost,
    UsageCostsOut,
)
from tollgate.usage.analytics.service import check_range, stats_row
from tollgate.usage.config import Settings
from tollgate.usage.ledger import repository as ledger


async def grant_bonus(session: AsyncSession, admin: Principal, body: AdminGrantIn) -> GrantOut:
    now = datetime.now(UTC)
    if body.expires_at is not None and body.expires_at <= now:
        raise UnprocessableEntity("expires_at must be in the future")
    account = await ledger.lock_account(session, body.account_id)
    if account is None or account.deleted_at is not None:
        raise NotFound("No such account")
    grant_id = uuid.uuid4()
    await ledger.insert_grant(
        session,
        {
            "id": grant_id,
            "account_id": account.id,
            "source": body.source,
            "amount": body.amount,
            "priority": body.priority,
            "starts_at": now,
            "expires_at": body.expires_at,
            "reason": body.reason,
            "created_by": admin.user_id,
        },
        now,
    )
    return GrantOut(
        id=grant_id,
        source=body.source,
        amount=body.amount,
        used=0,
        remaining=body.amount,
        priority=body.priority,
        starts_at=now,
        expires_at=body.expires_at,
        reason=body.reason,
    )


async def usage_stats(
    session: AsyncSession, settings: Settings, start: date | None, end: date | None, top: int
) -> AdminStatsOut:
    start, end = check_range(settings, start, end)
    totals = await stats_repo.total_stats(session, start, end)
    by_model = await stats_repo.grouped_stats(session, "model", start, end)
    accounts = await stats_repo.top_accounts(session, start, end, top)
    return AdminStatsOut(
        start=start,
        end=end,
        totals=stats_row("total", totals),
        by_model=[stats_row(str(r.key), r) for r in by_model],
        top_accounts=[
            AccountTotal(
                account_id=a.account_id,
                requests=int(a.requests),
                total_tokens=int(a.total_tokens),
                cost_usd=a.cost_usd,
            )
            for a in accounts
        ],
    )


async def usage_costs(
    session: AsyncSession, settings: Settings, start: date | None, end: date | None
) -> UsageCostsOut:
    start, end = check_range(settings, start, end)
    rows = await stats_repo.costs_by_plan_and_model(session, start, end)
    return UsageCostsOut(
        start=start,
        end=end,
        items=[
            PlanModelCost(
                plan=r.plan,
                model=r.model,
                requests=int(r.requests),
                total_tokens=int(r.total_tokens),
                charged_credits=int(r.charged_credits),
                cost_usd=r.cost_usd,
            )
            for r in rows
        ],
    )
