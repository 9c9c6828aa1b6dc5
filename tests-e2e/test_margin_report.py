"""The margin report: billing's revenue against usage's provider cost, per plan and model."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from journeys import balance, eventually, funded, register
from suite_settings import PASSWORD


async def rows(database: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(
        f"postgresql://tollgate_{database}:{PASSWORD}@127.0.0.1:5432/{database}_e2e"
    )
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def test_the_margin_report_sets_each_plans_revenue_against_its_provider_cost(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    person = await register(gateway, "Marge")
    await funded(gateway, person)
    for i in range(3):
        answered = await gateway.post(
            "/v1/chat/completions",
            headers=person.headers,
            json={
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": f"margin {i} [[words:5]]"}],
                "max_tokens": 8,
            },
        )
        assert answered.status_code == 200, answered.text
    await eventually(
        lambda: balance(gateway, person), lambda b: b.get("reserved") == 0, what="calls settled"
    )
    today = datetime.now(UTC).date().isoformat()

    report = await gateway.get(
        "/api/admin/margin", params={"start": today, "end": today}, headers=admin
    )

    assert report.status_code == 200, report.text
    body = report.json()
    costs = await rows(
        "usage",
        "SELECT a.plan, u.model, sum(u.cost_usd) AS cost, sum(u.charged_credits) AS credits"
        " FROM usage_records u JOIN accounts a ON a.id = u.account_id"
        " WHERE u.started_at >= $1::date GROUP BY a.plan, u.model",
        datetime.now(UTC).date(),
    )
    expected: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for r in costs:
        expected[r["plan"]][r["model"]] = r["cost"]
    shown = {p["plan"]: p for p in body["plans"]}
    for plan, models in expected.items():
        assert {m["model"]: Decimal(m["provider_cost"]) for m in shown[plan]["models"]} == models
        assert Decimal(shown[plan]["provider_cost"]) == sum(models.values())
    free = shown["free"]
    assert Decimal(free["provider_cost"]) > 0, "the calls above cost the vendor something"
    for plan in body["plans"]:
        revenue, cost = Decimal(plan["revenue"]), Decimal(plan["provider_cost"])
        assert Decimal(plan["margin"]) == revenue - cost
        shares = sum(Decimal(m["revenue"]) for m in plan["models"])
        assert abs(shares - revenue) < Decimal("0.0000001") * max(1, len(plan["models"]))
    assert Decimal(body["margin"]) == Decimal(body["revenue"]) - Decimal(body["provider_cost"])


async def test_the_margin_report_is_for_admins_and_refuses_a_reversed_range(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    person = await register(gateway, "Nosy")

    as_person = await gateway.get("/api/admin/margin", headers=person.headers)
    reversed_range = await gateway.get(
        "/api/admin/margin", params={"start": "2026-05-02", "end": "2026-05-01"}, headers=admin
    )

    assert as_person.status_code == 403
    assert reversed_range.status_code == 400
    assert reversed_range.json()["type"].endswith("/invalid-date-range")
