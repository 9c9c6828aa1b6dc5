"""An admin's plan edit reaches the proxy within seconds; usage's refusals reach the
caller with their own status, in OpenAI's shape."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import openai
import pytest
import uvicorn
from llm_helpers import chat
from llm_stack import AMQP_URL, Stack, catalog_for

from tollgate.llm_proxy.app import create_app
from tollgate.shared.messaging import Broker, make_envelope
from tollgate.shared.messaging.events import PlanUpdated
from tollgate.shared.testing import free_port

# Versions above any an earlier run left in the queue.
VERSIONS = itertools.count(int(time.time() * 1000))
PRO_LIMITS = {
    "requests_per_minute": 600,
    "llm_requests_per_minute": 60,
    "tokens_per_minute": 200_000,
    "daily_requests": None,
}


@pytest.fixture
async def billing() -> AsyncIterator[Broker]:
    broker = Broker(AMQP_URL)
    await broker.connect()
    yield broker
    await broker.close()


async def announce(broker: Broker, code: str, models: list[str]) -> int:
    version = next(VERSIONS)
    limits = {**PRO_LIMITS, "allowed_models": models}
    event = PlanUpdated(code=code, active=True, monthly_tokens=1, limits=limits, version=version)
    await broker.publish(make_envelope("billing", code, event))
    return version


async def listed(stack: Stack, token: str) -> set[str]:
    async with stack.http(token) as http:
        return {m["id"] for m in (await http.get("/v1/models")).json()["data"]}


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the proxy did not follow the plan's edit in time")


async def test_a_model_an_admin_removes_from_a_plan_is_refused_within_seconds(
    fresh: Stack, billing: Broker
) -> None:
    _, token = fresh.user(plan="pro")
    assert "claude-test" in await listed(fresh, token)

    await announce(billing, "pro", ["gpt-test", "pro-only"])
    await until(lambda: _without(fresh, token, "claude-test"))

    async with fresh.http(token) as http:
        refused = await http.post("/v1/chat/completions", json=chat("hi", model="claude-test"))
        one = await http.get("/v1/models/claude-test")
        kept = await http.post("/v1/chat/completions", json=chat("hi", model="gpt-test"))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_in_plan"
    assert one.status_code == 404
    assert kept.status_code == 200
    assert fresh.claude.calls == 0

    await announce(billing, "pro", ["*"])
    await until(lambda: _with(fresh, token, "claude-test"))


@contextlib.asynccontextmanager
async def another_worker(stack: Stack) -> AsyncIterator[str]:
    """A second proxy process on the same database and queues, as ``LLM_PROXY_WORKERS=2``
    makes: its own catalog and memory, the plan queue shared with the first."""
    catalog = catalog_for(stack.alpha.url, stack.beta.url, stack.claude.url)
    app = create_app(stack.app.state.settings, catalog)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    for _ in range(1_000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        # A start-up or shutdown that hangs fails here, naming itself, instead of
        # waiting for the suite's timeout with nothing said.
        assert server.started, "the second worker did not start within 10 s"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(serving, 15)
        except TimeoutError as hung:  # chained: a start that hung stays in the report
            raise AssertionError("the second worker did not stop within 15 s") from hung


async def test_every_worker_follows_an_edit_whichever_consumed_it(
    fresh: Stack, billing: Broker
) -> None:
    _, token = fresh.user(plan="pro")
    async with another_worker(fresh) as second_url:
        second = dataclasses.replace(fresh, url=second_url)
        for _ in range(4):  # the queue hands them out in turn: each worker consumes some
            await announce(billing, "pro", ["gpt-test"])
        await until(lambda: _without(fresh, token, "claude-test"))
        await until(lambda: _without(second, token, "claude-test"))

        await announce(billing, "pro", ["*"])
        await until(lambda: _with(fresh, token, "claude-test"))
        await until(lambda: _with(second, token, "claude-test"))


async def test_an_older_announcement_arriving_late_changes_nothing(
    fresh: Stack, billing: Broker
) -> None:
    _, token = fresh.user(plan="pro")
    older = await announce(billing, "pro", ["gpt-test"])
    await announce(billing, "pro", ["*"])
    await until(lambda: _with(fresh, token, "claude-test"))

    late = PlanUpdated(
        code="pro", active=True, monthly_tokens=1, limits={"allowed_models": []}, version=older
    )
    await billing.publish(make_envelope("billing", "pro", late))
    await asyncio.sleep(3)  # longer than a worker takes to read the plans again

    assert "claude-test" in await listed(fresh, token)


async def _without(stack: Stack, token: str, model: str) -> bool:
    return model not in await listed(stack, token)


async def _with(stack: Stack, token: str, model: str) -> bool:
    return model in await listed(stack, token)


async def test_usages_daily_quota_reaches_the_caller_as_429_with_retry_after(fresh: Stack) -> None:
    user_id, token = fresh.user()
    fresh.usage.rate_limited[str(user_id)] = ("daily-quota-exceeded", 3_600)
    try:
        async with fresh.http(token) as http:
            response = await http.post("/v1/chat/completions", json=chat("hello"))
    finally:
        del fresh.usage.rate_limited[str(user_id)]

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3600"
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
    assert error["reason"] == "daily_quota_exceeded"
    assert error["message"] == "Daily request quota of 200 reached"
    assert fresh.alpha.calls == 0 and fresh.beta.calls == 0


async def test_the_openai_sdk_sees_a_rate_limit_error_for_tokens_per_minute(fresh: Stack) -> None:
    user_id, token = fresh.user()
    fresh.usage.rate_limited[str(user_id)] = ("tokens-per-minute-exceeded", 12)
    client = openai.AsyncOpenAI(base_url=f"{fresh.url}/v1", api_key=token, max_retries=0)
    try:
        with pytest.raises(openai.RateLimitError) as raised:
            await client.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": "hi"}]
            )
    finally:
        del fresh.usage.rate_limited[str(user_id)]
        await client.close()

    assert raised.value.response.headers["Retry-After"] == "12"
    assert raised.value.code == "rate_limit_exceeded"


async def test_a_402_says_where_to_upgrade_and_where_to_buy_credits(fresh: Stack) -> None:
    _, token = fresh.user(tokens=0)
    async with fresh.http(token) as http:
        response = await http.post("/v1/chat/completions", json=chat("hello"))

    assert response.status_code == 402
    error = response.json()["error"]
    assert error["upgrade_url"] == "http://127.0.0.1:8000/billing"
    assert error["top_up_url"] == "http://127.0.0.1:8000/billing/credits"
    assert "http://127.0.0.1:8000/billing/credits" in error["message"]
    assert error["code"] == "insufficient_quota"


async def test_a_successful_answer_carries_the_remaining_balance(fresh: Stack) -> None:
    _, token = fresh.user(tokens=50_000)
    async with fresh.http(token) as http:
        response = await http.post("/v1/chat/completions", json=chat("hello", max_tokens=20))

    assert response.status_code == 200
    remaining = int(response.headers["X-Tollgate-Tokens-Remaining"])
    assert 0 < remaining < 50_000
