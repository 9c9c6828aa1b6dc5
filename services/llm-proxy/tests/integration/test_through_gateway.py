"""The openai SDK through the real gateway (in-process) and the proxy, streamed and not."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest
from aiohttp import web
from llm_stack import AMQP_URL, Stack
from pydantic import SecretStr

from tollgate.gateway.app import create_app as create_gateway
from tollgate.gateway.config import Settings as GatewaySettings
from tollgate.shared import testing


@pytest.fixture(scope="module")
async def gateway(stack: Stack) -> AsyncIterator[str]:
    settings = GatewaySettings(
        env="test",
        redis_url=testing.test_redis_url("llm_proxy"),
        amqp_url=AMQP_URL,
        jwks_url=stack.app.state.settings.jwks_url,
        auth_internal_url=stack.usage.url,
        client_secret=SecretStr("test-secret"),
        llm_proxy_url=stack.url,
        auth_url=stack.usage.url,
        billing_url=stack.usage.url,
        usage_url=stack.usage.url,
    )
    runner = web.AppRunner(create_gateway(settings))
    await runner.setup()
    port = testing.free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_the_sdk_works_through_the_gateway_streamed_and_not(
    fresh: Stack, gateway: str
) -> None:
    user_id, token = fresh.user(tokens=10_000, plan="pro")
    client = openai.AsyncOpenAI(base_url=gateway + "/v1", api_key=token, max_retries=0)

    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi [[words:3]] [[prompt:10]]"}]
    )
    stream = await client.chat.completions.create(
        model="claude-test",
        messages=[{"role": "user", "content": "hi [[words:4]] [[prompt:20]]"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    models = [m.id async for m in client.models.list()]

    assert raw.parse().choices[0].message.content == " the cat dog"
    assert raw.headers["X-Tollgate-Tokens-Remaining"] == str(10_000 - 13)
    assert raw.headers["X-Request-ID"]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        " the cat dog sat"
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 24
    assert "pro-only" in models
    await fresh.usage.events_of(user_id, 2)
    assert fresh.usage.committed(user_id) == 13 + 24


async def test_an_empty_balance_is_a_402_through_the_gateway(fresh: Stack, gateway: str) -> None:
    _, token = fresh.user(tokens=0, plan="pro")
    client = openai.AsyncOpenAI(base_url=gateway + "/v1", api_key=token, max_retries=0)

    with pytest.raises(openai.APIStatusError) as raised:
        await client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "hi"}]
        )

    assert raised.value.status_code == 402
    assert raised.value.body["type"] == "insufficient_quota"  # type: ignore[index]
    assert raised.value.body["available"] == 0  # type: ignore[index]  # what is left, to show
    assert fresh.alpha.calls == 0
