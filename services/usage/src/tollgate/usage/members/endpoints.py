"""Members and sub-users of a shared account: their caps, and what each one spent."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from tollgate.shared.db import SessionDep
from tollgate.shared.inputs import BoundedDate
from tollgate.shared.openapi import problems
from tollgate.shared.security import CurrentUser
from tollgate.usage.analytics.schemas import CapIn, CapOut, GroupBy, MembersUsageOut, StatsOut
from tollgate.usage.deps import SettingsDep
from tollgate.usage.members import usage
from tollgate.usage.members.caps import cap_member

router = APIRouter(tags=["usage"])


@router.put("/api/tokens/caps/{user_id}", response_model=CapOut)
async def set_cap(
    user_id: uuid.UUID, body: CapIn, user: CurrentUser, session: SessionDep
) -> CapOut:
    """Cap a sub-user's (as its parent) or an org member's (as an org owner or admin) spending."""
    account = await cap_member(session, user, user_id, body.cap_tokens)
    return CapOut(account_id=account, user_id=user_id, cap_tokens=body.cap_tokens)


@router.get("/api/usage/members", response_model=MembersUsageOut, responses=problems(400))
async def members_usage(
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    start: BoundedDate | None = None,
    end: BoundedDate | None = None,
) -> MembersUsageOut:
    """What each sub-user of the caller, and each member of an org they manage, spent."""
    return await usage.members_usage(session, settings, user, start, end)


@router.get(
    "/api/usage/members/{user_id}/stats", response_model=StatsOut, responses=problems(400, 404)
)
async def member_stats(
    user_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    group_by: GroupBy = "day",
    start: BoundedDate | None = None,
    end: BoundedDate | None = None,
    model: str | None = Query(None, max_length=200, description="Only this model's calls"),
) -> StatsOut:
    """One member's or sub-user's usage of the shared account, grouped as for stats."""
    return await usage.member_stats(session, settings, user, user_id, group_by, start, end, model)
