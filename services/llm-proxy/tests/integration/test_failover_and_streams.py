"""Failover before the first byte, honest endings after it, and bills for every token produced."""

from __future__ import annotations

import asyncio

import httpx
from llm_helpers import chat, logged, read_sse, streamed_text
from llm_stack import Stack


async def test_a_failing_first_deployment_fails_over_to_the_next(fresh: Stack) -> None:
    user_id, token = fresh.user()
    async with fresh.http(token) as http:
        response = await http.post(
            "/v1/chat/completions", json=chat("[[fail:alpha:503]] [[words:3]] [[prompt:9]]")
        )

    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == " the cat dog"
    assert (fresh.alpha.calls, fresh.beta.calls) == (1, 1)
    [event] = await fresh.usage.events_of(user_id)
    assert (event["provider"], event["total_tokens"]) == ("beta", 12)
    # beta's prices: 9 * 3 / 1e6 + 3 * 9 / 1e6
    assert event["cost_usd"] == "0.000054"
    [row] = await logged(fresh.engine, user_id)
    assert row.attempts == 2


async def test_a_provider_that_cannot_be_reached_fails_over_to_the_next(fresh: Stack) -> None:
    user_id, token = fresh.user()
    async with fresh.http(token) as http:
        response = await http.post("/v1/chat/completions", json=chat("[[words:2]]", "dead-first"))

    assert response.status_code == 200, response.text
    [event] = await fresh.usage.events_of(user_id)
    assert event["provider"] == "beta"


async def test_a_provider_slower_than_the_first_byte_timeout_fails_over(fresh: Stack) -> None:
    user_id, token = fresh.user()
    async with fresh.http(token) as http:
        response = await http.post(
            "/v1/chat/completions", json=chat("[[sleep:alpha:3500]] [[words:2]]")
        )

    assert response.status_code == 200, response.text
    [event] = await fresh.usage.events_of(user_id)
    assert event["provider"] == "beta"


async def test_a_stream_that_breaks_before_its_first_event_fails_over(fresh: Stack) -> None:
    user_id, token = fresh.user()
    async with (
        fresh.http(token) as http,
        http.stream(
            "POST",
            "/v1/chat/completions",
            json=chat("[[firstbreak:alpha]] [[words:2]]", stream=True),
        ) as response,
    ):
        events = await read_sse(response)

    assert response.status_code == 200
    assert streamed_text(events) == " the cat"
    assert events[-1] == "[DONE]"
    [event] = await fresh.usage.events_of(user_id)
    assert event["provider"] == "beta" and event["status"] == "succeeded"


async def test_a_deployment_that_keeps_failing_cools_down_and_is_skipped(fresh: Stack) -> None:
    _, token = fresh.user()
    async with fresh.http(token) as http:
        for _ in range(2):  # cooldown_failures=2 in the test settings
            await http.post("/v1/chat/completions", json=chat("[[fail:alpha:500]]"))
        calls_while_failing = fresh.alpha.calls
        response = await http.post("/v1/chat/completions", json=chat("[[words:1]]"))

    assert response.status_code == 200
    assert calls_while_failing == 2
    assert fresh.alpha.calls == 2, "a cooling deployment is not called"
    async with fresh.http(token) as http:
        providers = (await http.get("/v1/providers")).json()["data"]
    alpha = next(p for p in providers if p["id"] == "alpha")
    assert alpha["models"][0]["cooling_for_seconds"] > 0


async def test_an_upstream_error_mid_stream_becomes_an_in_band_error_and_done(
    fresh: Stack,
) -> None:
    user_id, token = fresh.user()
    async with (
        fresh.http(token) as http,
        http.stream(
            "POST", "/v1/chat/completions",
            json=chat("[[errorevent:3]] [[words:8]]", stream=True),
        ) as response,
    ):  # fmt: skip
        events = await read_sse(response)

    assert streamed_text(events) == " the cat dog"
    assert events[-2]["error"]["type"] == "server_error"
    assert events[-1] == "[DONE]"
    assert fresh.beta.calls == 0, "after the first byte there is no failover"
    [event] = await fresh.usage.events_of(user_id)
    produced = fresh.alpha.produced[""]
    assert event["status"] == "partial"
    assert event["completion_tokens"] == 3
    assert event["prompt_tokens"] == produced.prompt_tokens


async def test_a_connection_cut_mid_stream_is_reported_in_band_and_billed(fresh: Stack) -> None:
    user_id, token = fresh.user()
    async with (
        fresh.http(token) as http,
        http.stream(
            "POST", "/v1/chat/completions", json=chat("[[drop:4]] [[words:9]]", stream=True)
        ) as response,
    ):
        events = await read_sse(response)

    assert events[-2]["error"]["code"] == "stream_interrupted"
    assert events[-1] == "[DONE]"
    [event] = await fresh.usage.events_of(user_id)
    assert event["completion_tokens"] == 4
    assert event["total_tokens"] == fresh.alpha.produced[""].total


async def test_an_idle_upstream_is_cut_off_and_billed_for_what_it_sent(fresh: Stack) -> None:
    user_id, token = fresh.user()
    async with (
        fresh.http(token) as http,
        http.stream(
            "POST", "/v1/chat/completions", json=chat("[[stall:2]] [[words:9]]", stream=True)
        ) as response,
    ):
        events = await read_sse(response)

    assert "no data from upstream" in events[-2]["error"]["message"]
    [event] = await fresh.usage.events_of(user_id)
    assert event["completion_tokens"] == 2


async def test_an_upstream_that_reports_no_usage_is_billed_by_our_own_count(fresh: Stack) -> None:
    user_id, token = fresh.user()
    async with fresh.http(token) as http:
        plain = await http.post("/v1/chat/completions", json=chat("[[nousage]] [[words:5]]"))
        async with http.stream(
            "POST", "/v1/chat/completions", json=chat("[[nousage]] [[words:7]]", stream=True)
        ) as response:
            events = await read_sse(response)

    assert plain.json()["usage"]["completion_tokens"] == 5
    assert streamed_text(events) == " the cat dog sat on mat and"
    billed = await fresh.usage.events_of(user_id, 2)
    produced = fresh.alpha.produced[""]
    assert sorted(e["completion_tokens"] for e in billed) == [5, 7]
    assert sum(e["total_tokens"] for e in billed) == produced.total
    rows = await logged(fresh.engine, user_id)
    assert [r.usage_reported for r in rows] == [False, False]


async def test_a_client_that_hangs_up_is_billed_for_the_whole_answer_the_upstream_made(
    fresh: Stack,
) -> None:
    user_id, token = fresh.user()
    async with (
        fresh.http(token) as http,
        http.stream(
            "POST", "/v1/chat/completions", json=chat("[[delay:20]] [[words:15]]", stream=True)
        ) as response,
    ):
        seen = 0
        async for line in response.aiter_lines():
            seen += line.startswith("data: ")
            if seen == 3:
                break  # leaving the block closes the connection mid-stream
    [event] = await fresh.usage.events_of(user_id)

    assert event["status"] == "cancelled"
    assert event["completion_tokens"] == 15, "the proxy kept reading to learn the real usage"
    assert event["total_tokens"] == fresh.alpha.produced[""].total


async def test_a_client_that_hangs_up_on_a_stalled_stream_pays_what_was_delivered(
    fresh: Stack,
) -> None:
    user_id, token = fresh.user()
    async with (
        fresh.http(token) as http,
        http.stream(
            "POST", "/v1/chat/completions", json=chat("[[stall:3]] [[words:15]]", stream=True)
        ) as response,
    ):
        seen = 0
        async for line in response.aiter_lines():
            seen += line.startswith("data: ")
            if seen == 3:
                break
    [event] = await fresh.usage.events_of(user_id)

    assert event["completion_tokens"] == 3
    assert event["total_tokens"] > 0


async def test_an_anthropic_stream_cut_short_is_billed_for_the_words_sent(fresh: Stack) -> None:
    user_id, token = fresh.user()
    async with (
        fresh.http(token) as http,
        http.stream(
            "POST", "/v1/chat/completions",
            json=chat("[[drop:5]] [[words:9]] [[prompt:30]]", model="claude-test", stream=True),
        ) as response,
    ):  # fmt: skip
        events = await read_sse(response)

    assert streamed_text(events) == " the cat dog sat on"
    assert events[-1] == "[DONE]"
    [event] = await fresh.usage.events_of(user_id)
    assert (event["prompt_tokens"], event["completion_tokens"]) == (30, 5)


async def test_many_concurrent_streams_each_settle_exactly_once(fresh: Stack) -> None:
    user_id, token = fresh.user(tokens=1_000_000)

    async def one(http: httpx.AsyncClient, i: int) -> str:
        async with http.stream(
            "POST", "/v1/chat/completions", json=chat(f"[[words:{1 + i % 5}]]", stream=True)
        ) as response:
            return streamed_text(await read_sse(response))

    async with fresh.http(token) as http:
        texts = await asyncio.gather(*(one(http, i) for i in range(40)))

    assert all(texts)
    events = await fresh.usage.events_of(user_id, 40)
    assert len({e["request_id"] for e in events}) == 40
    assert fresh.usage.anomalies == []
