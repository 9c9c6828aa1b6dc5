"""An admin's edit of a plan reaches every service that enforces it within seconds,
and tokens per minute hold back the call that would exceed them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from devstack import Stack
from journeys import Person, balance, eventually, funded, login, on_plan, register
from openai import AsyncOpenAI, RateLimitError

PLAN = "enterprise"


@pytest.fixture
async def edit_plan(gateway: httpx.AsyncClient, admin: dict[str, str]) -> AsyncIterator[Any]:
    """Changes the enterprise plan's limits through the admin API; puts them back after."""
    plans = (await gateway.get("/api/subscriptions/plans")).json()
    original = next(p["limits"] for p in plans if p["code"] == PLAN)

    async def edit(**limits: Any) -> None:
        response = await gateway.put(
            f"/api/admin/plans/{PLAN}", json={"limits": {**original, **limits}}, headers=admin
        )
        assert response.status_code == 200, response.text

    yield edit
    restored = await gateway.put(
        f"/api/admin/plans/{PLAN}", json={"limits": original}, headers=admin
    )
    assert restored.status_code == 200, restored.text


async def enterprise_person(gateway: httpx.AsyncClient, admin: dict[str, str]) -> Person:
    """Someone moved to the plan by an admin, signed in again so their token names it."""
    person = await register(gateway, "Hedy")
    await funded(gateway, person)
    await on_plan(gateway, admin, person, PLAN)
    return await eventually(
        lambda: login(gateway, person.email),
        lambda again: tier_of(again) == PLAN,
        what="a token naming the plan",
    )


def tier_of(person: Person) -> str:
    claims = jwt.decode(person.access_token, options={"verify_signature": False})
    return str(claims.get("plan"))


async def limits_of(gateway: httpx.AsyncClient, person: Person) -> dict[str, Any]:
    response = await gateway.get("/api/tokens/limits", headers=person.headers)
    return dict(response.json().get("limits") or {}) if response.status_code == 200 else {}


async def test_tokens_per_minute_refuse_the_call_that_would_exceed_them_until_the_window_passes(
    stack: Stack, gateway: httpx.AsyncClient, admin: dict[str, str], edit_plan: Any
) -> None:
    person = await enterprise_person(gateway, admin)
    await edit_plan(tokens_per_minute=300)
    await eventually(
        lambda: limits_of(gateway, person),
        lambda limits: limits.get("tokens_per_minute") == 300,
        timeout=10,
        what="the edited tokens per minute at usage",
    )
    client = AsyncOpenAI(
        base_url=f"{stack.url('gateway')}/v1", api_key=person.access_token, max_retries=0
    )
    try:
        # The stand-in reports 250 prompt tokens: settled, the call counts 250 and more.
        first = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "[[prompt:250]] [[words:3]]"}],
            max_tokens=20,
        )
        assert first.usage is not None and first.usage.prompt_tokens == 250
        await eventually(
            lambda: balance(gateway, person),
            lambda b: b.get("reserved") == 0,
            what="the first call settled",
        )

        async def second() -> Any:
            return await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "hello again"}],
                max_tokens=60,
            )

        with pytest.raises(RateLimitError) as refused:
            await second()
        retry_after = int(refused.value.response.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        error = refused.value.response.json()["error"]
        assert error["code"] == "rate_limit_exceeded"
        assert error["reason"] == "tokens_per_minute_exceeded"
        assert error["tokens_per_minute"] == 300

        await asyncio.sleep(retry_after + 0.5)
        admitted = await second()
        assert admitted.choices[0].message.content
    finally:
        await client.close()


async def test_a_model_an_admin_removes_from_a_plan_is_refused_within_seconds(
    gateway: httpx.AsyncClient, admin: dict[str, str], edit_plan: Any
) -> None:
    person = await enterprise_person(gateway, admin)
    call = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    allowed = await gateway.post("/v1/chat/completions", json=call, headers=person.headers)
    assert allowed.status_code == 200, allowed.text

    edited_at = time.monotonic()
    await edit_plan(allowed_models=["gpt-4o-mini", "text-embedding-3-small"])

    async def attempt() -> httpx.Response:
        return await gateway.post("/v1/chat/completions", json=call, headers=person.headers)

    refused = await eventually(
        attempt, lambda r: r.status_code != 200, timeout=10, what="gpt-4o refused"
    )
    assert time.monotonic() - edited_at < 10
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_in_plan"
    models = (await gateway.get("/v1/models", headers=person.headers)).json()["data"]
    assert "gpt-4o" not in {m["id"] for m in models}
    config = (await gateway.get("/api/auth/vscode-config", headers=person.headers)).json()
    assert config["limits"]["allowed_models"] == ["gpt-4o-mini", "text-embedding-3-small"]


async def test_an_admin_lowering_requests_per_minute_is_enforced_by_the_gateway_within_seconds(
    gateway: httpx.AsyncClient, admin: dict[str, str], edit_plan: Any
) -> None:
    person = await enterprise_person(gateway, admin)

    async def read() -> httpx.Response:
        return await gateway.get("/api/tokens/balance", headers=person.headers)

    assert (await read()).headers["X-RateLimit-Limit"] == "3000"

    edited_at = time.monotonic()
    await edit_plan(requests_per_minute=3)
    await eventually(
        read, lambda r: r.headers.get("X-RateLimit-Limit") == "3", timeout=10, what="the new limit"
    )
    assert time.monotonic() - edited_at < 10

    statuses = [(await read()).status_code for _ in range(3)]
    assert statuses[-1] == 429
    assert statuses.count(200) <= 2
    refused = await read()
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
