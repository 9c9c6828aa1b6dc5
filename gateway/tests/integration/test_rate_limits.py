"""Plan-aware limits: exact under concurrency, raised by a plan change, with their headers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

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
from tollgate.gateway.apikeys import generate_api_key
from tollgate.shared.messaging.events import EventData, SubscriptionChanged
from tollgate.shared.plans import limits_for
from tollgate.shared.testing import SigningKey

Publish = Callable[[EventData], Awaitable[None]]
FREE_LLM = limits_for("free")["llm_requests_per_minute"]


def plan_changed(account: uuid.UUID, plan: str, sequence: int) -> SubscriptionChanged:
    now = datetime.now(UTC)
    return SubscriptionChanged(
        account_id=account,
        user_id=account,
        plan=plan,
        status="active",
        current_period_start=now,
        current_period_end=now + timedelta(days=30),
        monthly_tokens=1,
        limits=dict(limits_for(plan)),
        sequence=sequence,
    )


async def test_concurrent_requests_beyond_the_limit_are_refused_exactly(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey
) -> None:
    token = signing_key.mint(plan="free")
    url = gateway.url + "/v1/completions"
    statuses = await asyncio.gather(*(call_status(http, url, token) for _ in range(FREE_LLM + 5)))
    assert statuses.count(200) == FREE_LLM
    assert statuses.count(429) == 5


async def test_a_model_picker_refreshing_does_not_spend_the_llm_budget(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey
) -> None:
    token = signing_key.mint(plan="free")
    for _ in range(FREE_LLM + 5):
        async with http.get(gateway.url + "/v1/models", headers=bearer(token)) as response:
            assert response.status == 200
    async with http.post(
        gateway.url + "/v1/chat/completions",
        headers=bearer(token),
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    ) as response:
        assert response.status == 200
        assert response.headers["X-RateLimit-Remaining"] == str(FREE_LLM - 1)


async def test_two_replicas_share_one_budget(
    gateway: RunningGateway,
    http: aiohttp.ClientSession,
    signing_key: SigningKey,
    standin: StandIn,
    jwks_url: str,
) -> None:
    token = signing_key.mint(plan="free")
    async with run_gateway(gateway_settings(standin.url, jwks_url)) as replica:

        async def call(url: str) -> int:
            async with http.get(url + "/v1/completions", headers=bearer(token)) as response:
                return response.status

        urls = [gateway.url, replica.url] * (FREE_LLM // 2 + 3)
        statuses = await asyncio.gather(*(call(u) for u in urls))
    assert statuses.count(200) == FREE_LLM
    assert statuses.count(429) == len(urls) - FREE_LLM


async def test_limit_headers_count_down_and_a_refusal_says_when_to_retry(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey
) -> None:
    token = signing_key.mint(plan="free")
    url = gateway.url + "/v1/completions"
    for expected_remaining in range(FREE_LLM - 1, -1, -1):
        async with http.get(url, headers=bearer(token)) as response:
            assert response.status == 200
            assert response.headers["RateLimit-Policy"] == f'"llm";q={FREE_LLM};w=60'
            assert response.headers["RateLimit"].startswith(f'"llm";r={expected_remaining};t=')
            assert response.headers["X-RateLimit-Limit"] == str(FREE_LLM)
            assert response.headers["X-RateLimit-Remaining"] == str(expected_remaining)
            assert 0 < int(response.headers["X-RateLimit-Reset"]) <= 60
    async with http.get(url, headers=bearer(token)) as response:
        assert response.status == 429
        assert 1 <= int(response.headers["Retry-After"]) <= 60 // FREE_LLM + 1
        body = await response.json()
        assert body["error"]["type"] == "requests"
        assert body["error"]["code"] == "rate_limit_exceeded"


async def test_llm_and_general_routes_have_separate_budgets(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey
) -> None:
    token = signing_key.mint(plan="free")
    for _ in range(FREE_LLM):
        async with http.get(gateway.url + "/v1/completions", headers=bearer(token)) as response:
            assert response.status == 200
    async with http.get(gateway.url + "/api/tokens/balance", headers=bearer(token)) as response:
        assert response.status == 200
        assert response.headers["RateLimit-Policy"].startswith('"general";q=60')


async def test_a_plan_upgrade_raises_the_limit_without_a_new_token(
    gateway: RunningGateway,
    http: aiohttp.ClientSession,
    signing_key: SigningKey,
    publish: Publish,
) -> None:
    user = uuid.uuid4()
    token = signing_key.mint(user, plan="free")
    url = gateway.url + "/v1/completions"
    for _ in range(FREE_LLM):
        async with http.get(url, headers=bearer(token)) as response:
            assert response.status == 200
    async with http.get(url, headers=bearer(token)) as response:
        assert response.status == 429

    await publish(plan_changed(user, "pro", sequence=2))

    async def allowed() -> bool:
        async with http.get(url, headers=bearer(token)) as response:
            return response.status == 200

    await eventually(allowed, within=2.0)
    pro = limits_for("pro")["llm_requests_per_minute"]
    async with http.get(url, headers=bearer(token)) as response:
        assert response.headers["RateLimit-Policy"] == f'"llm";q={pro};w=60'
        # The free minute's requests count as requests, not as the free plan's minute:
        # the upgrade's room is there at once (the two allowed since, too).
        assert int(response.headers["X-RateLimit-Remaining"]) >= pro - FREE_LLM - 2
    statuses = await asyncio.gather(*(call_status(http, url, token) for _ in range(pro // 2)))
    assert statuses == [200] * (pro // 2)

    # An older event delivered late does not undo the upgrade.
    await publish(plan_changed(user, "free", sequence=1))
    await asyncio.sleep(0.3)
    async with http.get(url, headers=bearer(token)) as response:
        assert response.headers["X-RateLimit-Limit"] == str(pro)

    # Back to free with some forty requests made: the bucket is full at the free rate,
    # not minutes overfull (forty at one per 6 s); the next is one free interval away.
    await publish(plan_changed(user, "free", sequence=3))

    retry_after: list[int] = []

    async def refused() -> bool:
        async with http.get(url, headers=bearer(token)) as response:
            if response.status == 429:
                retry_after.append(int(response.headers["Retry-After"]))
            return response.status == 429

    await eventually(refused, within=2.0)
    assert retry_after == [60 // FREE_LLM]


async def call_status(http: aiohttp.ClientSession, url: str, token: str) -> int:
    async with http.get(url, headers=bearer(token)) as response:
        return response.status


async def test_the_token_plan_claim_is_used_until_an_event_says_otherwise(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey
) -> None:
    token = signing_key.mint(plan="enterprise")
    async with http.get(gateway.url + "/v1/completions", headers=bearer(token)) as response:
        limit = limits_for("enterprise")["llm_requests_per_minute"]
        assert response.headers["X-RateLimit-Limit"] == str(limit)


async def test_auth_endpoints_are_limited_per_client_address(
    gateway: RunningGateway, http: aiohttp.ClientSession, redis: Redis
) -> None:
    await redis.delete(redis_keys.bucket("auth", "127.0.0.1"))  # other tests signed in too
    limit = gateway.state.settings.auth_requests_per_minute_per_ip
    statuses = []
    for _ in range(limit + 1):
        async with http.post(gateway.url + "/api/auth/login-json", json={}) as response:
            statuses.append(response.status)
            last_headers = response.headers
    assert statuses[:limit] == [200] * limit
    assert statuses[-1] == 429
    assert "Retry-After" in last_headers


async def test_an_organization_plan_applies_to_its_members(
    gateway: RunningGateway,
    http: aiohttp.ClientSession,
    signing_key: SigningKey,
    publish: Publish,
) -> None:
    org = uuid.uuid4()
    member = signing_key.mint(plan="free", org=org)
    event = plan_changed(org, "enterprise", sequence=1)
    await publish(event.model_copy(update={"user_id": uuid.uuid4(), "org_id": org}))
    enterprise = str(limits_for("enterprise")["requests_per_minute"])

    async def raised() -> bool:
        async with http.get(gateway.url + "/api/tokens/balance", headers=bearer(member)) as r:
            return r.headers["X-RateLimit-Limit"] == enterprise

    await eventually(raised, within=2.0)


async def test_all_keys_and_tokens_of_one_account_share_the_plans_budget(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey, standin: StandIn
) -> None:
    user = uuid.uuid4()
    credentials = [signing_key.mint(user, plan="free"), signing_key.mint(user, plan="free")]
    for _ in range(3):
        key, key_id = generate_api_key(), uuid.uuid4()
        standin.api_keys[key] = {
            "active": True,
            "key_id": str(key_id),
            "access_token": signing_key.mint(
                user, plan="free", api_key_id=str(key_id), scopes=["llm"]
            ),
            "expires_in": 900,
        }
        credentials.append(key)

    async def call(credential: str) -> int:
        async with http.get(
            gateway.url + "/v1/completions", headers=bearer(credential)
        ) as response:
            return response.status

    statuses = await asyncio.gather(*(call(credentials[i % 5]) for i in range(FREE_LLM * 3)))
    assert statuses.count(200) == FREE_LLM, statuses


async def test_a_sub_user_spends_its_parents_request_budget(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey
) -> None:
    parent = uuid.uuid4()
    tokens = [signing_key.mint(parent, plan="free")] + [
        signing_key.mint(uuid.uuid4(), plan="free", parent=parent) for _ in range(2)
    ]

    async def call(token: str) -> int:
        async with http.get(gateway.url + "/v1/completions", headers=bearer(token)) as response:
            return response.status

    statuses = await asyncio.gather(*(call(tokens[i % 3]) for i in range(FREE_LLM * 2)))
    assert statuses.count(200) == FREE_LLM, statuses
