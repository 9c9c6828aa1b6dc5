"""The default plan catalog: free, pro and enterprise, with their limits.

Billing seeds its catalog from this and owns it from then on; the gateway and
the LLM proxy fall back to it for a user whose ``subscription.changed`` they have
not seen yet. Limits travel in ``subscription.changed.limits`` with these keys.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypedDict

__all__ = ["DEFAULT_PLANS", "PlanLimits", "limits_for"]


class PlanLimits(TypedDict):
    requests_per_minute: int
    llm_requests_per_minute: int
    tokens_per_minute: int
    daily_requests: int | None
    allowed_models: list[str]  # "*" allows every model in the proxy's catalog


DEFAULT_PLANS: dict[str, dict[str, Any]] = {
    "free": {
        "name": "Free",
        "price": Decimal("0.00"),
        "currency": "usd",
        "interval": "month",
        "monthly_tokens": 100_000,
        "limits": PlanLimits(
            requests_per_minute=60,
            llm_requests_per_minute=10,
            tokens_per_minute=20_000,
            daily_requests=200,
            allowed_models=["gpt-4o-mini", "claude-3-5-haiku"],
        ),
    },
    "pro": {
        "name": "Pro",
        "price": Decimal("20.00"),
        "currency": "usd",
        "interval": "month",
        "monthly_tokens": 5_000_000,
        "limits": PlanLimits(
            requests_per_minute=600,
            llm_requests_per_minute=60,
            tokens_per_minute=200_000,
            daily_requests=None,
            allowed_models=["*"],
        ),
    },
    "enterprise": {
        "name": "Enterprise",
        "price": Decimal("100.00"),
        "currency": "usd",
        "interval": "month",
        "monthly_tokens": 50_000_000,
        "limits": PlanLimits(
            requests_per_minute=3000,
            llm_requests_per_minute=600,
            tokens_per_minute=2_000_000,
            daily_requests=None,
            allowed_models=["*"],
        ),
    },
}


def limits_for(plan: str | None) -> PlanLimits:
    """Limits of a plan by name; unknown or missing plans get the free plan's."""
    entry = DEFAULT_PLANS.get(plan or "free", DEFAULT_PLANS["free"])
    limits: PlanLimits = entry["limits"]
    return limits
