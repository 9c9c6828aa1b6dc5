"""What operators rely on: metrics, a usage outage, lost answers, content kept only when asked."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from llm_helpers import chat, logged, read_sse
from llm_stack import Stack
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tollgate.llm_proxy.request_log.service import CallRecord
from tollgate.shared.testing import free_port


async def test_metrics_count_attempts_calls_and_tokens(fresh: Stack) -> None:
    user_id, token = fresh.user()
    async with fresh.http(token) as http:
        await http.post("/v1/chat/completions", json=chat("[[fail:alpha:503]] [[words:2]]"))
        await fresh.usage.events_of(user_id)
        metrics = (await http.get("/metrics")).text

    assert 'tollgate_llm_upstream_attempts_total{outcome="retryable",provider="alpha"}' in metrics
    assert 'tollgate_llm_upstream_attempts_total{outcome="ok",provider="beta"}' in metrics
    assert 'tollgate_llm_calls_total{model="gpt-test",status="succeeded"}' in metrics
    assert 'tollgate_llm_tokens_total{kind="completion",model="gpt-test"}' in metrics


@pytest.fixture
def usage_down(fresh: Stack) -> Iterator[None]:
    reservations = fresh.app.state.completions.reservations
    real = reservations.base
    reservations.base = f"http://127.0.0.1:{free_port()}/internal/reservations"
    try:
        yield
    finally:
        reservations.base = real


@pytest.mark.usefixtures("usage_down")
async def test_when_usage_cannot_be_asked_nothing_is_called_and_the_client_gets_503(
    fresh: Stack,
) -> None:
    user_id, token = fresh.user()
    async with fresh.http(token) as http:
        response = await http.post("/v1/chat/completions", json=chat("hi"))

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "metering_unavailable"
    assert fresh.alpha.calls == 0
    assert await logged(fresh.engine, user_id) == []


async def test_a_call_waits_out_usage_restarting_and_is_answered_with_one_hold(
    fresh: Stack,
) -> None:
    reservations = fresh.app.state.completions.reservations
    real, patience = reservations.base, reservations.retry_seconds
    reservations.retry_seconds = 5.0
    reservations.base = f"http://127.0.0.1:{free_port()}/internal/reservations"  # usage is down

    async def usage_back() -> None:
        await asyncio.sleep(0.6)
        reservations.base = real

    user_id, token = fresh.user(tokens=50_000)
    try:
        async with fresh.http(token) as http:
            response, _ = await asyncio.gather(
                http.post("/v1/chat/completions", json=chat("hi [[words:2]]")), usage_back()
            )
    finally:
        reservations.base, reservations.retry_seconds = real, patience

    assert response.status_code == 200, response.text
    [event] = await fresh.usage.events_of(user_id)
    [held] = [h for h in fresh.usage.holds.values() if h.account == str(user_id)]
    assert event["reservation_id"] == held.reservation_id
    assert fresh.usage.committed(user_id) == event["total_tokens"] > 0


async def test_a_hold_whose_answer_was_lost_once_is_asked_again_and_billed_once(
    fresh: Stack,
) -> None:
    reservations = fresh.app.state.completions.reservations
    patience, reservations.retry_seconds = reservations.retry_seconds, 5.0
    user_id, token = fresh.user(tokens=50_000)
    fresh.usage.lose_answers_for.add(str(user_id))
    # Usage makes the hold and the answer is lost; by the second asking it answers again.
    asyncio.get_running_loop().call_later(0.2, fresh.usage.lose_answers_for.discard, str(user_id))
    try:
        async with fresh.http(token) as http:
            response = await http.post("/v1/chat/completions", json=chat("hi [[words:2]]"))
    finally:
        reservations.retry_seconds = patience

    assert response.status_code == 200, response.text
    [held] = [h for h in fresh.usage.holds.values() if h.account == str(user_id)]
    [event] = await fresh.usage.events_of(user_id)
    assert event["reservation_id"] == held.reservation_id
    assert fresh.usage.balances[str(user_id)] == 50_000 - event["total_tokens"]
    assert fresh.usage.anomalies == []


async def test_a_hold_whose_answer_was_lost_before_usage_stayed_unavailable_is_settled(
    fresh: Stack,
) -> None:
    user_id, token = fresh.user(tokens=50_000)
    fresh.usage.lose_answers_for.add(str(user_id))

    async def unavailable_once_held() -> None:  # the hold is made, then usage answers 503
        for _ in range(5000):
            if any(h.account == str(user_id) for h in fresh.usage.holds.values()):
                break
            await asyncio.sleep(0.001)
        fresh.usage.lose_answers_for.discard(str(user_id))
        fresh.usage.unavailable_to.add(str(user_id))

    try:
        async with fresh.http(token) as http:
            response, _ = await asyncio.gather(
                http.post("/v1/chat/completions", json=chat("hi [[words:2]]")),
                unavailable_once_held(),
            )
    finally:
        fresh.usage.unavailable_to.discard(str(user_id))

    assert response.status_code == 503
    assert fresh.alpha.calls == 0 and fresh.beta.calls == 0
    [event] = await fresh.usage.events_of(user_id)
    assert event["reservation_id"] is None and event["total_tokens"] == 0
    [held] = [h for h in fresh.usage.holds.values() if h.account == str(user_id)]
    assert held.settled is not None
    assert fresh.usage.balances[str(user_id)] == 50_000


@pytest.fixture
def content_stored(fresh: Stack) -> Iterator[None]:
    settings = fresh.app.state.settings
    settings.store_content = True
    try:
        yield
    finally:
        settings.store_content = False


@pytest.mark.usefixtures("content_stored")
async def test_prompts_and_completions_are_kept_when_enabled(fresh: Stack) -> None:
    user_id, token = fresh.user()
    async with fresh.http(token) as http:
        await http.post("/v1/chat/completions", json=chat("remember me [[words:2]]"))
    await fresh.usage.events_of(user_id)

    [row] = await logged(fresh.engine, user_id)
    assert row.prompt is not None and "remember me" in row.prompt
    assert row.completion == " the cat"


async def test_a_call_recorded_twice_is_logged_and_billed_once(fresh: Stack) -> None:
    user_id, token = fresh.user()
    service = fresh.app.state.completions
    hold = await service.reservations.reserve(
        user_token=token, request_id="twice-1", model="gpt-test", prompt_tokens=5,
        max_completion_tokens=5, ttl_seconds=60,
    )  # fmt: skip
    real = CallRecord(
        request_id="twice-1", http_request_id=None, user_id=user_id, org_id=None,
        api_key_id=None, session_id=None, reservation_id=hold.reservation_id,
        endpoint="chat", model="gpt-test", provider="alpha", upstream_model="a-model",
        stream=False, prompt_tokens=5, completion_tokens=3, usage_reported=True,
        cost_usd=Decimal("0.000034"), status="succeeded", error=None, attempts=1,
        latency_ms=3, ttft_ms=2, started_at=datetime.now(UTC),
    )  # fmt: skip
    failed = dataclasses.replace(real, completion_tokens=0, prompt_tokens=0, status="failed")

    await asyncio.gather(service.recorder.record(real), service.recorder.record(failed))
    await service.recorder.record(failed)

    [row] = await logged(fresh.engine, user_id)
    assert (row.status, row.completion_tokens) == ("succeeded", 3)
    events = await fresh.usage.events_of(user_id)
    assert len(events) == 1 and events[0]["total_tokens"] == 8
    assert fresh.usage.committed(user_id) == 8
    assert fresh.usage.anomalies == []


async def test_a_service_token_usage_refuses_is_renewed_and_the_call_goes_through(
    fresh: Stack,
) -> None:
    tokens = fresh.app.state.service_tokens
    await tokens.token()
    refused = fresh.key.mint("service:llm-proxy", typ="service", audience="someone-else")
    tokens._token = refused
    _, token = fresh.user()
    async with fresh.http(token) as http:
        response = await http.post("/v1/chat/completions", json=chat("hi [[words:1]]"))

    assert response.status_code == 200, response.text
    assert tokens._token not in (None, refused)


@pytest.fixture
def answers_lost(fresh: Stack) -> Iterator[tuple[uuid.UUID, str]]:
    """A user whose reservations usage makes but whose answers never come back."""
    user_id, token = fresh.user(tokens=50_000)
    fresh.usage.lose_answers_for.add(str(user_id))
    try:
        yield user_id, token
    finally:
        fresh.usage.lose_answers_for.discard(str(user_id))


async def test_a_hold_whose_answer_was_lost_is_settled_and_the_balance_comes_back(
    fresh: Stack, answers_lost: tuple[uuid.UUID, str]
) -> None:
    user_id, token = answers_lost
    async with fresh.http(token) as http:
        response = await http.post("/v1/chat/completions", json=chat("hi [[words:2]]"))

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "metering_unavailable"
    assert fresh.alpha.calls == 0 and fresh.beta.calls == 0
    [event] = await fresh.usage.events_of(user_id)
    assert event["reservation_id"] is None and event["status"] == "failed"
    assert event["total_tokens"] == 0
    [held] = [h for h in fresh.usage.holds.values() if h.account == str(user_id)]
    assert event["request_id"] in fresh.usage.by_request
    assert fresh.usage.by_request[event["request_id"]] == held.reservation_id
    assert held.settled is not None
    assert fresh.usage.balances[str(user_id)] == 50_000
    [row] = await logged(fresh.engine, user_id)
    assert (row.status, row.total_tokens, row.reservation_id) == ("failed", 0, None)


async def test_a_call_keeps_the_callers_request_id_and_trace_through_to_its_usage_event(
    fresh: Stack,
) -> None:
    user_id, token = fresh.user()
    trace_id = uuid.uuid4().hex
    headers = {"X-Request-ID": "client-req-42", "traceparent": f"00-{trace_id}-{'1' * 16}-01"}
    async with fresh.http(token) as http:
        response = await http.post(
            "/v1/chat/completions", json=chat("hi [[words:2]]"), headers=headers
        )
        metrics = (await http.get("/metrics")).text

    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "client-req-42"
    [event] = await fresh.usage.events_of(user_id)
    assert trace_id in fresh.usage.headers_of[event["request_id"]]["traceparent"]
    [row] = await logged(fresh.engine, user_id)
    assert row.http_request_id == "client-req-42"
    assert (
        'tollgate_http_requests_total{method="POST",route="/v1/chat/completions",'
        'service="llm-proxy",status="200"}'
    ) in metrics


async def test_a_malformed_request_id_is_replaced_and_errors_keep_the_openai_shape(
    fresh: Stack,
) -> None:
    _, token = fresh.user()
    async with fresh.http(token) as http:
        response = await http.post(
            "/api/llm/chat/completions",
            json={"model": "gpt-test", "messages": [], "bogus": 1},
            headers={"X-Request-ID": "bad id with spaces"},
        )

    assert response.status_code == 400
    assert response.headers["X-Request-ID"] != "bad id with spaces"
    assert response.json()["error"]["type"] == "invalid_request_error"


async def outbox_events_of(engine: AsyncEngine, request_id: str) -> int:
    async with engine.connect() as connection:
        found = await connection.execute(
            text("SELECT count(*) FROM outbox WHERE body LIKE :pattern"),
            {"pattern": f'%"request_id":"{request_id}"%'},
        )
        return int(found.scalar_one())


async def test_the_bill_is_committed_before_the_answer_or_the_streams_end_reaches_the_client(
    fresh: Stack,
) -> None:
    user_id, token = fresh.user()
    async with fresh.http(token) as http:
        plain = await http.post("/v1/chat/completions", json=chat("hi [[words:2]]"))
        # Nothing waited for: the row and its event must already be there.
        [row] = await logged(fresh.engine, user_id)
        assert plain.status_code == 200 and row.status == "succeeded"
        assert await outbox_events_of(fresh.engine, row.request_id) == 1

        async with http.stream(
            "POST", "/v1/chat/completions", json=chat("hi [[words:3]]", stream=True)
        ) as streamed:
            events = await read_sse(streamed)
        assert events[-1] == "[DONE]"
        rows = await logged(fresh.engine, user_id)
        assert [r.stream for r in rows] == [False, True]
        assert await outbox_events_of(fresh.engine, rows[1].request_id) == 1
