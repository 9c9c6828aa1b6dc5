"""The official openai SDK works through the gateway: answers, streams and errors."""

from __future__ import annotations

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.integration.conftest import RunningGateway
from tollgate.gateway.apikeys import generate_api_key
from tollgate.shared.plans import limits_for
from tollgate.shared.testing import SigningKey


def client(gateway: RunningGateway, api_key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)


async def test_a_chat_completion_and_its_balance_header_come_through(
    gateway: RunningGateway, signing_key: SigningKey
) -> None:
    sdk = client(gateway, signing_key.mint(plan="pro"))
    raw = await sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["X-Tollgate-Tokens-Remaining"] == "99996"
    assert raw.parse().choices[0].message.content == "hello"


async def test_a_streamed_completion_arrives_as_chunks(
    gateway: RunningGateway, signing_key: SigningKey
) -> None:
    sdk = client(gateway, signing_key.mint(plan="pro"))
    stream = await sdk.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    words = [chunk.choices[0].delta.content async for chunk in stream]
    assert words == ["hel", "lo"]


async def test_the_sdk_raises_its_own_errors_for_bad_keys_and_rate_limits(
    gateway: RunningGateway, signing_key: SigningKey
) -> None:
    with pytest.raises(openai.AuthenticationError):
        await client(gateway, generate_api_key()[:-1] + "x").models.list()
    sdk = client(gateway, signing_key.mint(plan="free"))
    hello: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
    for _ in range(limits_for("free")["llm_requests_per_minute"]):
        await sdk.chat.completions.with_raw_response.create(model="m", messages=hello)
    with pytest.raises(openai.RateLimitError) as raised:
        await sdk.chat.completions.create(model="m", messages=hello)
    assert raised.value.response.headers["Retry-After"]
