"""An admin's edit of the catalog reaches the services that enforce it: plan.updated."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import httpx
import pytest
from conftest import AMQP_URL, Users
from fastapi import FastAPI

from tollgate.billing.plans.service import announce_catalog
from tollgate.shared.messaging import EXCHANGE

QUEUE = "billing-tests.plan-updated"


class PlanTap:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def wait_for(self, code: str, count: int = 1) -> list[dict[str, Any]]:
        for _ in range(200):
            found = [e["data"] for e in self.received if e["data"]["code"] == code]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"fewer than {count} plan.updated for {code}: {self.received}")


@pytest.fixture
async def plan_tap() -> AsyncIterator[PlanTap]:
    tap = PlanTap()
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(QUEUE, auto_delete=True)
    await queue.bind(exchange, "plan.updated")

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            tap.received.append(json.loads(message.body))

    await queue.consume(on_message)
    yield tap
    await connection.close()


def enterprise_limits(**change: Any) -> dict[str, Any]:
    limits: dict[str, Any] = {
        "requests_per_minute": 3000,
        "llm_requests_per_minute": 600,
        "tokens_per_minute": 2_000_000,
        "daily_requests": None,
        "allowed_models": ["*"],
    }
    return {**limits, **change}


async def test_each_edit_of_a_plan_is_announced_with_a_higher_version(
    users: Users, client: httpx.AsyncClient, plan_tap: PlanTap
) -> None:
    for tpm in (1_500_000, 1_000_000):
        response = await client.put(
            "/api/admin/plans/enterprise",
            json={"limits": enterprise_limits(tokens_per_minute=tpm)},
            headers=users.admin(),
        )
        assert response.status_code == 200

    first, second = await plan_tap.wait_for("enterprise", count=2)
    assert second["version"] == first["version"] + 1
    assert (first["limits"]["tokens_per_minute"], second["limits"]["tokens_per_minute"]) == (
        1_500_000,
        1_000_000,
    )
    assert second["active"] is True
    assert second["monthly_tokens"] == 50_000_000


@pytest.mark.parametrize(
    "limits",
    [
        enterprise_limits(tokens_per_minute=0),
        enterprise_limits(requests_per_minute=-5),
        enterprise_limits(llm_requests_per_minute="600"),
        enterprise_limits(allowed_models=[]),
        enterprise_limits(daily_requests=2.5),
    ],
)
async def test_absurd_limits_are_refused_and_nothing_is_announced(
    limits: dict[str, Any], users: Users, client: httpx.AsyncClient, plan_tap: PlanTap
) -> None:
    before = (await client.get("/api/subscriptions/plans")).json()

    response = await client.put(
        "/api/admin/plans/enterprise", json={"limits": limits}, headers=users.admin()
    )

    assert response.status_code == 400
    assert response.json()["detail"].startswith("limits.")
    assert (await client.get("/api/subscriptions/plans")).json() == before
    await asyncio.sleep(0.3)
    assert plan_tap.received == []


async def test_announcing_the_catalog_tells_every_plan_at_its_current_version(
    app: FastAPI, plan_tap: PlanTap
) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        count = await announce_catalog(session)

    assert count == 3
    for code in ("free", "pro", "enterprise"):
        (announced,) = await plan_tap.wait_for(code)
        assert announced["version"] >= 1
