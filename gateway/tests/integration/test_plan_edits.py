"""An admin's edit of a plan's request limits reaches every replica within seconds."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from redis.asyncio import Redis

from tests.integration.conftest import (
    RunningGateway,
    bearer,
    eventually,
    gateway_settings,
    run_gateway,
)
from tests.integration.standins import StandIn
from tollgate.gateway import redis_keys
from tollgate.shared.messaging.events import EventData, PlanUpdated, SubscriptionChanged
from tollgate.shared.plans import limits_for
from tollgate.shared.testing import SigningKey

Publish = Callable[[EventData], Awaitable[None]]


def edited(code: str, version: int, **limits: Any) -> PlanUpdated:
    return PlanUpdated(
        code=code,
        active=True,
        monthly_tokens=1,
        limits={**limits_for("free"), **limits},
        version=version,
    )


def a_plan() -> str:
    """A plan of this test's own, so editing it touches no other test's callers."""
    return f"plan-{uuid.uuid4().hex[:8]}"


async def llm_status(http: aiohttp.ClientSession, url: str, token: str) -> tuple[int, str]:
    async with http.get(url + "/v1/completions", headers=bearer(token)) as response:
        return response.status, response.headers.get("X-RateLimit-Limit", "")


async def test_lowering_llm_requests_per_minute_is_enforced_by_every_replica_within_seconds(
    gateway: RunningGateway,
    http: aiohttp.ClientSession,
    signing_key: SigningKey,
    publish: Publish,
    standin: StandIn,
    jwks_url: str,
) -> None:
    code = a_plan()
    token = signing_key.mint(plan=code)
    assert (await llm_status(http, gateway.url, token))[0] == 200

    await publish(edited(code, 1, llm_requests_per_minute=3))

    async def lowered() -> bool:
        return (await llm_status(http, gateway.url, token))[1] == "3"

    await eventually(lowered, within=3.0)
    someone_else = signing_key.mint(plan=code)  # a bucket the polling above did not touch
    async with run_gateway(gateway_settings(standin.url, jwks_url)) as replica:
        statuses = [
            (await llm_status(http, url, someone_else))[0] for url in [gateway.url, replica.url] * 4
        ]
    assert statuses.count(200) == 3
    assert statuses.count(429) == 5


async def test_an_edit_reaches_accounts_whose_subscription_named_the_plan(
    gateway: RunningGateway,
    http: aiohttp.ClientSession,
    signing_key: SigningKey,
    publish: Publish,
) -> None:
    code, user = a_plan(), uuid.uuid4()
    token = signing_key.mint(user, plan="free")  # minted before the upgrade
    now = datetime.now(UTC)
    await publish(
        SubscriptionChanged(
            account_id=user,
            user_id=user,
            plan=code,
            status="active",
            current_period_start=now,
            current_period_end=now + timedelta(days=30),
            monthly_tokens=1,
            limits={**limits_for("pro")},
            sequence=1,
        )
    )
    pro = str(limits_for("pro")["llm_requests_per_minute"])

    async def subscribed() -> bool:
        return (await llm_status(http, gateway.url, token))[1] == pro

    await eventually(subscribed, within=3.0)

    await publish(edited(code, 1, llm_requests_per_minute=500))

    async def raised() -> bool:
        return (await llm_status(http, gateway.url, token))[1] == "500"

    await eventually(raised, within=3.0)


async def test_an_older_version_of_a_plan_arriving_late_is_ignored(
    gateway: RunningGateway,
    http: aiohttp.ClientSession,
    signing_key: SigningKey,
    publish: Publish,
    redis: Redis,
) -> None:
    code = a_plan()
    token = signing_key.mint(plan=code)
    await publish(edited(code, 5, llm_requests_per_minute=40))

    async def applied() -> bool:
        return await redis.hget(redis_keys.plan(code), "version") == b"5"

    await eventually(applied, within=3.0)
    await publish(edited(code, 4, llm_requests_per_minute=2))
    await publish(edited(code, 6, requests_per_minute=90, llm_requests_per_minute=40))

    async def newest() -> bool:
        return await redis.hget(redis_keys.plan(code), "version") == b"6"

    await eventually(newest, within=3.0)
    assert (await llm_status(http, gateway.url, token))[1] == "40"
