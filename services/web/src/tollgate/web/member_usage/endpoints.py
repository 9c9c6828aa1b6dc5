"""Each member's or sub-user's usage, for the owners and admins or the parent who pay for it.

The organization and sub-users pages show every member's figures for the last 30 days
(``usage_by_member``); ``/usage/members/{user_id}`` shows one member's range with the
chart and tables of the dashboard. Who may see whom is the usage API's decision: a
person who may not gets its 404.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from tollgate.web.api import Api
from tollgate.web.charts import tokens_per_day
from tollgate.web.pages import ApiDep, PageSession, render, sign_in_first
from tollgate.web.sessions import WebSession

__all__ = ["router", "usage_by_member"]

router = APIRouter(include_in_schema=False)

Day = Annotated[date | None, Query()]


def _range(start: date | None, end: date | None) -> dict[str, str]:
    """The API's default range (the last 30 UTC days), spelt out so every call agrees."""
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=29)
    return {"start": start.isoformat(), "end": end.isoformat()}


async def usage_by_member(api: Api, session: WebSession) -> dict[str, dict[str, Any]]:
    """The last 30 days of each member the person manages, by user id (empty if none)."""
    answer = await api.json(session, "/api/usage/members", params=_range(None, None))
    return {m["user_id"]: m for m in answer["members"]}


async def _who(api: Api, session: WebSession, user_id: uuid.UUID) -> str:
    """The member's address, from the organization's members or the sub-users."""
    organizations, sub_users = await asyncio.gather(
        api.json(session, "/api/organizations"), api.json(session, "/api/sub-users")
    )
    for sub in sub_users:
        if sub["id"] == str(user_id):
            return str(sub["email"])
    for org in organizations:
        for member in await api.json(session, f"/api/organizations/{org['id']}/members"):
            if member["user_id"] == str(user_id):
                return str(member["email"] or "a member")
    return "a member"


@router.get("/usage/members/{user_id}")
async def member_usage(
    request: Request,
    user_id: uuid.UUID,
    session: PageSession,
    api: ApiDep,
    start: Day = None,
    end: Day = None,
) -> Response:
    if not session.signed_in:
        return sign_in_first(request)
    path = f"/api/usage/members/{user_id}/stats"
    dates = _range(start, end)
    by_model = await api.json(session, path, params={**dates, "group_by": "model"})
    models = [row["key"] for row in by_model["items"]]
    days_of = (api.json(session, path, params=dates | {"group_by": "day", "model": m})
               for m in models)  # fmt: skip
    per_model, who = await asyncio.gather(asyncio.gather(*days_of), _who(api, session, user_id))
    series = {
        model: {date.fromisoformat(i["key"]): i["total_tokens"] for i in answer["items"]}
        for model, answer in zip(models, per_model, strict=True)
    }
    first, last = date.fromisoformat(by_model["start"]), date.fromisoformat(by_model["end"])
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    daily = [(d, sum(s.get(d, 0) for s in series.values())) for d in days]
    context = {
        "who": who,
        "user_id": user_id,
        "by_model": by_model,
        "chart": tokens_per_day(days, series),
        "daily_totals": [row for row in daily if row[1]],
        "start": by_model["start"],
        "end": by_model["end"],
    }
    return render(request, "member_usage/member.html", context)
