"""The official openai SDK works against the proxy unchanged, streamed and not."""

from __future__ import annotations

import uuid
from typing import Any

import openai
import pytest
from llm_stack import Stack
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.llm_proxy.models import RequestLog


def sdk(stack: Stack, token: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=stack.url + "/v1", api_key=token, max_retries=0)


async def logged(stack: Stack, user_id: uuid.UUID) -> list[RequestLog]:
    async with AsyncSession(stack.engine) as session:
        rows = await session.scalars(select(RequestLog).where(RequestLog.user_id == user_id))
        return list(rows)


async def test_a_chat_completion_answers_and_bills_what_the_upstream_reported(fresh: Stack) -> None:
    user_id, token = fresh.user(tokens=50_000)
    client = sdk(fresh, token)

    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "Say hi [[words:4]] [[prompt:33]]"}],
    )
    completion = raw.parse()

    assert completion.choices[0].message.content == " the cat dog sat"
    assert completion.model == "gpt-test"
    assert completion.usage is not None and completion.usage.total_tokens == 37
    assert raw.headers["X-Tollgate-Tokens-Remaining"] == str(50_000 - 37)
    await fresh.usage.events_of(user_id, 1)
    assert fresh.usage.committed(user_id) == 37
    assert fresh.usage.balances[str(user_id)] == 50_000 - 37
    [row] = await logged(fresh, user_id)
    assert (row.provider, row.status, row.prompt_tokens, row.completion_tokens) == (
        "alpha",
        "succeeded",
        33,
        4,
    )
    # 33 * 2 / 1e6 + 4 * 8 / 1e6 dollars at alpha's prices
    assert str(row.cost_usd.normalize()) == "0.000098"
    assert row.prompt is None, "prompts are not stored unless enabled"


async def test_a_streamed_chat_completion_arrives_in_pieces_and_is_billed(fresh: Stack) -> None:
    user_id, token = fresh.user(tokens=50_000)
    client = sdk(fresh, token)

    stream = await client.chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "Count [[words:5]] [[prompt:20]]"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage = [], None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage:
            usage = chunk.usage

    assert pieces == [" the", " cat", " dog", " sat", " on"]
    assert usage is not None and usage.total_tokens == 25
    await fresh.usage.events_of(user_id, 1)
    assert fresh.usage.committed(user_id) == 25
    [row] = await logged(fresh, user_id)
    assert row.stream and row.status == "succeeded" and row.usage_reported
    assert row.ttft_ms is not None


async def test_a_stream_without_include_usage_gets_no_usage_chunk_but_is_still_billed(
    fresh: Stack,
) -> None:
    user_id, token = fresh.user()

    stream = await sdk(fresh, token).chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "[[words:3]] [[prompt:10]]"}],
        stream=True,
    )
    chunks = [chunk async for chunk in stream]

    assert all(chunk.usage is None for chunk in chunks)
    assert fresh.alpha.requests[-1]["stream_options"] == {"include_usage": True}
    await fresh.usage.events_of(user_id, 1)
    assert fresh.usage.committed(user_id) == 13


async def test_an_anthropic_model_answers_in_openai_shape_streamed_and_not(fresh: Stack) -> None:
    user_id, token = fresh.user()
    client = sdk(fresh, token)

    completion = await client.chat.completions.create(
        model="claude-test",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello [[words:3]] [[prompt:40]]"},
        ],
    )
    stream = await client.chat.completions.create(
        model="claude-test",
        messages=[{"role": "user", "content": "Again [[words:4]] [[prompt:50]]"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    assert completion.choices[0].message.content == " the cat dog"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.prompt_tokens == 40
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == " the cat dog sat"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 54
    sent = fresh.claude.requests[0]
    assert sent["system"] == "Be brief." and sent["max_tokens"] >= 1
    await fresh.usage.events_of(user_id, 2)
    assert fresh.usage.committed(user_id) == 43 + 54


async def test_legacy_completions_and_embeddings_are_billed_by_their_usage(fresh: Stack) -> None:
    user_id, token = fresh.user()
    client = sdk(fresh, token)

    completion = await client.completions.create(
        model="gpt-test", prompt="Once upon [[words:2]] [[prompt:5]]"
    )
    embedding = await client.embeddings.create(model="embed-test", input=["one two", "three"])

    assert completion.choices[0].text == " the cat"
    assert len(embedding.data) == 2 and embedding.usage.prompt_tokens == 3
    await fresh.usage.events_of(user_id, 2)
    assert fresh.usage.committed(user_id) == 7 + 3


async def test_models_lists_only_what_the_plan_allows(fresh: Stack) -> None:
    _, free_token = fresh.user(plan="free")
    _, pro_token = fresh.user(plan="pro")

    free = {m.id async for m in sdk(fresh, free_token).models.list()}
    pro = {m.id async for m in sdk(fresh, pro_token).models.list()}

    assert free == {"gpt-test", "claude-test", "embed-test", "dead-first"}
    assert pro == free - {"dead-first"} | {"pro-only"}


async def test_providers_are_listed_without_their_keys(fresh: Stack) -> None:
    _, token = fresh.user()
    async with fresh.http(token) as http:
        response = await http.get("/api/llm/providers")

    assert response.status_code == 200
    assert {p["id"] for p in response.json()["data"]} == {"alpha", "beta", "claude", "dead"}
    assert "sk-alpha-secret" not in response.text


@pytest.mark.parametrize("prefix", ["/v1", "/api/llm"])
async def test_both_prefixes_serve_the_same_handlers(fresh: Stack, prefix: str) -> None:
    _, token = fresh.user()
    async with fresh.http(token) as http:
        response = await http.post(
            prefix + "/chat/completions",
            json={"model": "gpt-test", "messages": [{"role": "user", "content": "[[words:1]]"}]},
        )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == " the"


async def test_a_streamed_legacy_completion_arrives_and_is_billed(fresh: Stack) -> None:
    user_id, token = fresh.user()
    stream = await sdk(fresh, token).completions.create(
        model="gpt-test", prompt="Once [[words:3]] [[prompt:4]]", stream=True
    )
    text = "".join([chunk.choices[0].text async for chunk in stream if chunk.choices])

    assert text == " the cat dog"
    await fresh.usage.events_of(user_id, 1)
    assert fresh.usage.committed(user_id) == 7


async def test_a_feature_tag_from_the_header_or_metadata_reaches_the_usage_event(
    fresh: Stack,
) -> None:
    user_id, token = fresh.user(tokens=50_000)
    client = sdk(fresh, token)
    messages: list[Any] = [{"role": "user", "content": "hi [[words:2]]"}]

    await client.chat.completions.create(
        model="gpt-test", messages=messages, extra_headers={"X-Tollgate-Feature": "Inline-Edit"}
    )
    await client.chat.completions.create(
        model="gpt-test", messages=messages, metadata={"feature": "commit-message"}
    )
    await client.chat.completions.create(model="gpt-test", messages=messages)

    events = await fresh.usage.events_of(user_id, 3)
    assert sorted(str(e.get("feature")) for e in events) == [
        "None",
        "commit-message",
        "inline-edit",
    ]


async def test_a_malformed_feature_tag_is_refused_before_any_tokens_are_held(
    fresh: Stack,
) -> None:
    user_id, token = fresh.user(tokens=50_000)
    client = sdk(fresh, token)

    with pytest.raises(openai.BadRequestError) as refused:
        await client.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"X-Tollgate-Feature": "no spaces allowed"},
        )

    assert "X-Tollgate-Feature must be" in refused.value.message
    assert fresh.usage.balances[str(user_id)] == 50_000
    assert await logged(fresh, user_id) == []
