"""The margin report: per plan and per model, revenue against what the providers charged.

Revenue is billing's (payments received in the range, less refunds), per the plan
of the account that paid. Provider cost is usage's (the sum of ``cost_usd`` of the
calls started in the range), per the plan of the account that paid for the call.
Within a plan, revenue is attributed to its models pro rata by the credits charged
for each: what a plan's customers spent their credits on is what their money bought.
Both sides use each account's plan as it is now, not when it paid or called.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.margin import repository
from tollgate.billing.margin.schemas import MarginOut, ModelMargin, PlanMargin

CURRENCY = "usd"  # provider costs are in US dollars; only revenue in dollars compares
CENT = Decimal("0.01")
PRECISE = Decimal("0.00000001")


async def margin_report(
    session: AsyncSession, start: date, end: date, costs: list[dict[str, Any]]
) -> MarginOut:
    revenue = {
        r.plan: Decimal(int(r.cents or 0)) / 100
        for r in await repository.revenue_per_plan(session, start, end, CURRENCY)
    }
    by_plan: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in costs:
        by_plan[item["plan"]].append(item)
    plans = [
        _plan(plan, revenue.get(plan, Decimal(0)), by_plan[plan])
        for plan in sorted(set(revenue) | set(by_plan))
    ]
    total_revenue = sum((p.revenue for p in plans), Decimal(0))
    total_cost = sum((p.provider_cost for p in plans), Decimal(0))
    return MarginOut(
        start=start,
        end=end,
        currency=CURRENCY,
        revenue=total_revenue,
        provider_cost=total_cost,
        margin=total_revenue - total_cost,
        plans=plans,
    )


def _plan(plan: str, revenue: Decimal, models: list[dict[str, Any]]) -> PlanMargin:
    credits = sum(int(m["charged_credits"]) for m in models)
    rows = []
    for m in sorted(models, key=lambda m: str(m["model"])):
        share = Decimal(int(m["charged_credits"])) / credits if credits else Decimal(0)
        model_revenue = (revenue * share).quantize(PRECISE, ROUND_HALF_EVEN)
        cost = Decimal(m["cost_usd"])
        rows.append(
            ModelMargin(
                model=m["model"],
                requests=int(m["requests"]),
                charged_credits=int(m["charged_credits"]),
                revenue=model_revenue,
                provider_cost=cost,
                margin=model_revenue - cost,
            )
        )
    cost = sum((r.provider_cost for r in rows), Decimal(0))
    return PlanMargin(
        plan=plan, revenue=revenue, provider_cost=cost, margin=revenue - cost, models=rows
    )
