"""The catalog: seeding it from shared.plans and letting admins change it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.models import Plan
from tollgate.billing.plans import repository
from tollgate.billing.plans.schemas import PlanOut, PlanUpdate
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


# A year for the price of ten months; a two-week trial of pro.
DEFAULT_OFFERS: dict[str, dict[str, Any]] = {
    "pro": {"yearly_price": Decimal("200.00"), "trial_days": 14},
    "enterprise": {"yearly_price": Decimal("1000.00"), "trial_days": 0},
}


def default_catalog(
    price_ids: dict[str, str], yearly_price_ids: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    yearly_price_ids = yearly_price_ids or {}
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
            "stripe_yearly_price_id": yearly_price_ids.get(code),
            **DEFAULT_OFFERS.get(code, {}),
        }
        for code, entry in DEFAULT_PLANS.items()
    ]


async def seed_catalog(
    session: AsyncSession, price_ids: dict[str, str], yearly_price_ids: dict[str, str] | None = None
) -> None:
    await repository.seed(session, default_catalog(price_ids, yearly_price_ids))


def public(plan: Plan) -> PlanOut:
    """A plan as buyers see it: a yearly price is offered only where Stripe has one to charge."""
    shown = PlanOut.model_validate(plan)
    if not plan.stripe_yearly_price_id:
        shown.yearly_price = None
    return shown


def stripe_price(plan: Plan, interval: str) -> str | None:
    """The plan's Stripe price for a month or a year; None where it is not sold that way."""
    return plan.stripe_yearly_price_id if interval == "year" else plan.stripe_price_id


def interval_of(plan: Plan, price_id: str | None) -> str:
    return "year" if price_id is not None and price_id == plan.stripe_yearly_price_id else "month"


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
    if code == "free" and (fields.get("trial_days") or fields.get("stripe_yearly_price_id")):
        raise BadRequest(
            "The free plan has no trial and no yearly price: nobody pays for it",
            type_slug="free-plan",
        )
    for name, value in fields.items():
        setattr(plan, name, value)
    await session.flush()
    return plan
