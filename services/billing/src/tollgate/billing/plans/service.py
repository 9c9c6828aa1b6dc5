"""The catalog: seeding it from shared.plans and letting admins change it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.models import Plan
from tollgate.billing.plans import repository
from tollgate.billing.plans.schemas import PlanUpdate
from tollgate.shared.errors import BadRequest, NotFound
from tollgate.shared.plans import DEFAULT_PLANS

LIMIT_KEYS = frozenset(
    {
        "requests_per_minute",
        "llm_requests_per_minute",
        "tokens_per_minute",
        "daily_requests",
        "allowed_models",
    }
)

DEFAULT_FEATURES = {
    "free": ["Chat and completions with small models", "Community support"],
    "pro": ["Every model", "Higher rate limits", "Email support"],
    "enterprise": ["Every model", "Organization seats sharing one pool", "Priority support"],
}


def default_catalog(price_ids: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "code": code,
            "name": entry["name"],
            "price": entry["price"],
            "currency": entry["currency"],
            "interval": entry["interval"],
            "monthly_tokens": entry["monthly_tokens"],
            "limits": dict(entry["limits"]),
            "features": DEFAULT_FEATURES.get(code, []),
            "stripe_price_id": price_ids.get(code),
        }
        for code, entry in DEFAULT_PLANS.items()
    ]


async def seed_catalog(session: AsyncSession, price_ids: dict[str, str]) -> None:
    await repository.seed(session, default_catalog(price_ids))


async def require_plan(session: AsyncSession, code: str) -> Plan:
    """The plan a caller named; unknown or retired plans are the caller's mistake."""
    plan = await repository.get(session, code)
    if plan is None or not plan.active:
        raise BadRequest(f"There is no plan called {code!r}", type_slug="unknown-plan")
    return plan


async def update_plan(session: AsyncSession, code: str, change: PlanUpdate) -> Plan:
    plan = await repository.get(session, code)
    if plan is None:
        raise NotFound(f"There is no plan called {code!r}")
    fields = change.model_dump(exclude_unset=True)
    if "limits" in fields:
        limits = fields["limits"] or {}
        if set(limits) != LIMIT_KEYS:
            raise BadRequest(f"limits must have exactly the keys {sorted(LIMIT_KEYS)}")
    if code == "free" and fields.get("active") is False:
        raise BadRequest("The free plan cannot be retired: every account falls back to it")
    for name, value in fields.items():
        setattr(plan, name, value)
    await session.flush()
    return plan
