"""``GET /api/admin/margin``: revenue against provider cost, per plan and model (admins)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fastapi import APIRouter

from tollgate.billing.context import BillingDep
from tollgate.billing.margin.schemas import MarginOut
from tollgate.billing.margin.service import margin_report
from tollgate.billing.margin.usage_costs import usage_costs
from tollgate.shared.db import SessionDep
from tollgate.shared.errors import BadRequest
from tollgate.shared.inputs import BoundedDate
from tollgate.shared.openapi import problems
from tollgate.shared.security import AdminUser

router = APIRouter(tags=["admin"], responses=problems(400, 503))

MAX_DAYS = 366


@router.get("/api/admin/margin", response_model=MarginOut)
async def margin(
    admin: AdminUser,
    session: SessionDep,
    billing: BillingDep,
    start: BoundedDate | None = None,
    end: BoundedDate | None = None,
) -> MarginOut:
    """Revenue, provider cost and their difference per plan and model, for a date range
    (inclusive UTC days; the last 30 by default)."""
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=29)
    check_range(start, end)
    costs = await usage_costs(billing.settings.usage_url, admin.token, start, end)
    return await margin_report(session, start, end, costs)


def check_range(start: date, end: date) -> None:
    if start > end:
        raise BadRequest("start is after end", type_slug="invalid-date-range")
    if (end - start).days + 1 > MAX_DAYS:
        raise BadRequest(
            f"A date range may span at most {MAX_DAYS} days", type_slug="invalid-date-range"
        )
