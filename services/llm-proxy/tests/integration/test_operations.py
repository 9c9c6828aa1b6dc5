"""What operators rely on: metrics, a usage outage, and content kept only when asked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import Stack
from helpers import chat, logged

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
