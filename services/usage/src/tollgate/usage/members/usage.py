"""Each member's usage, for the people who manage the shared account they spend from.

Who may read is decided from the members rows auth's events keep current, as for
caps: a parent reads its sub-users; an organization's owners and admins read every
member of it (reading, unlike capping, is no act on an owner); the platform's admins
read as an owner would. Anyone else gets 404: the member stays invisible to them.
Only what a member spent from that shared account counts, never their own account.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.errors import NotFound
from tollgate.shared.security import Principal
from tollgate.usage.analytics import repository as stats_repo
from tollgate.usage.analytics.schemas import (
    GroupBy,
    MembersUsageOut,
    MemberUsageOut,
    StatsOut,
    StatsRow,
)
from tollgate.usage.analytics.service import check_range, stats_row
from tollgate.usage.config import Settings
from tollgate.usage.ledger import repository as ledger
from tollgate.usage.members import repository as repo
from tollgate.usage.members.caps import ORG_MANAGERS

__all__ = ["member_stats", "members_usage"]


async def members_usage(
    session: AsyncSession,
    settings: Settings,
    caller: Principal,
    start: date | None,
    end: date | None,
) -> MembersUsageOut:
    """Every sub-user of the caller and every member of the organizations they manage."""
    start, end = check_range(settings, start, end)
    accounts = [caller.user_id, *await repo.managed_organizations(session, caller.user_id)]
    members = [m for m in await repo.members_of(session, accounts) if m.user_id != caller.user_id]
    sums = {
        (r.account_id, r.user_id): r
        for r in await stats_repo.member_totals(session, accounts, start, end)
    }
    return MembersUsageOut(
        start=start,
        end=end,
        members=[
            MemberUsageOut(
                account_id=m.account_id,
                user_id=m.user_id,
                kind=m.kind,
                role=m.role,
                active=m.active,
                cap_tokens=m.cap_tokens,
                totals=_totals(sums.get((m.account_id, m.user_id))),
            )
            for m in members
        ],
    )


def _totals(row: Any) -> StatsRow:
    if row is None:  # nothing spent in the range: no rollup row at all
        return StatsRow(
            key="total",
            requests=0,
            prompt_tokens=0,
            completion_tokens=0,
            total_tokens=0,
            charged_tokens=0,
            charged_credits=0,
            cost_usd=Decimal(0),
        )
    return stats_row("total", row)


async def member_stats(
    session: AsyncSession,
    settings: Settings,
    caller: Principal,
    user_id: uuid.UUID,
    group_by: GroupBy,
    start: date | None,
    end: date | None,
    model: str | None,
) -> StatsOut:
    """One member's usage of the shared account, as ``/api/usage/stats`` shows one's own."""
    account = await _readable_account(session, caller, user_id)
    start, end = check_range(settings, start, end)
    rows = await stats_repo.grouped_stats(
        session, group_by, start, end, user_id=user_id, account_id=account, model=model
    )
    totals = await stats_repo.total_stats(
        session, start, end, user_id=user_id, account_id=account, model=model
    )
    return StatsOut(
        group_by=group_by,
        start=start,
        end=end,
        items=[stats_row(str(r.key), r) for r in rows],
        totals=stats_row("total", totals),
    )


async def _readable_account(
    session: AsyncSession, caller: Principal, user_id: uuid.UUID
) -> uuid.UUID:
    """The shared account whose spending by ``user_id`` the caller may read, else 404."""
    sub_user = await ledger.member(session, caller.user_id, user_id)
    if sub_user is not None and sub_user.kind == "sub_user":
        return caller.user_id
    for target in await repo.org_memberships(session, user_id):
        manager = await ledger.member(session, target.account_id, caller.user_id)
        manages = manager is not None and manager.active and manager.role in ORG_MANAGERS
        if manages or caller.has_role("admin"):
            return target.account_id
    raise NotFound("No sub-user or organization member of yours with this id")
