"""Nobody gets tokens they cannot pay for, and bad requests cost nothing."""

from __future__ import annotations

from typing import Any

import pytest
from llm_helpers import chat, logged
from llm_stack import Stack


async def test_an_empty_balance_gets_402_and_the_upstream_is_never_called(fresh: Stack) -> None:
    user_id, token = fresh.user(tokens=0)
    async with fresh.http(token) as http:
        response = await http.post("/v1/chat/completions", json=chat("hello"))

    assert response.status_code == 402
    error = response.json()["error"]
    assert error["type"] == "insufficient_quota" and error["code"] == "insufficient_quota"
    assert fresh.alpha.calls == 0 and fresh.beta.calls == 0
    assert await logged(fresh.engine, user_id) == []


async def test_a_caller_usage_refuses_to_let_spend_gets_an_openai_403_and_no_upstream_call(
    fresh: Stack,
) -> None:
    user_id, token = fresh.user(tokens=10_000)
    fresh.usage.refuse_holds_to.add(str(user_id))
    async with fresh.http(token) as http:
        response = await http.post("/v1/chat/completions", json=chat("hello"))

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["type"] == "permission_error" and error["code"] == "llm_not_permitted"
    assert error["message"] == "This sub-user may not call the LLM"
    assert fresh.alpha.calls == 0 and fresh.beta.calls == 0


async def test_a_model_usage_has_no_price_for_is_an_openai_400_and_no_upstream_call(
    fresh: Stack,
) -> None:
    user_id, token = fresh.user(tokens=10_000)
    model = chat("hello")["model"]
    fresh.usage.unpriced_models.add(model)
    try:
        async with fresh.http(token) as http:
            response = await http.post("/v1/chat/completions", json=chat("hello"))
    finally:
        fresh.usage.unpriced_models.discard(model)

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "model_not_priced",
        "model",
    )
    assert "has no price" in error["message"]
    assert fresh.alpha.calls == 0 and fresh.beta.calls == 0
    assert fresh.usage.balances[str(user_id)] == 10_000


async def test_a_max_tokens_larger_than_the_balance_is_refused_before_any_call(
    fresh: Stack,
) -> None:
    _, token = fresh.user(tokens=100)
    async with fresh.http(token) as http:
        response = await http.post("/v1/chat/completions", json=chat("hi", max_tokens=500))

    assert response.status_code == 402
    assert fresh.alpha.calls == 0


async def test_without_max_tokens_the_proxy_asks_for_only_what_the_balance_allows(
    fresh: Stack,
) -> None:
    _user_id, token = fresh.user(tokens=60)
    async with fresh.http(token) as http:
        response = await http.post("/v1/chat/completions", json=chat("hi [[words:200]]"))

    assert response.status_code == 200, response.text
    sent = fresh.alpha.requests[-1]["max_tokens"]
    prompt = response.json()["usage"]["prompt_tokens"]
    assert sent == 60 - prompt, "max_tokens is clamped to what the balance can pay"
    assert response.json()["usage"]["completion_tokens"] == sent
    assert response.headers["X-Tollgate-Tokens-Remaining"] == "0"


async def test_a_call_no_provider_could_serve_releases_its_hold(fresh: Stack) -> None:
    user_id, token = fresh.user(tokens=10_000)
    async with fresh.http(token) as http:
        response = await http.post("/v1/chat/completions", json=chat("[[fail:alpha:503,beta:502]]"))

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unavailable"
    message = response.json()["error"]["message"]
    assert "127.0.0.1" not in message and "http" not in message and "alpha" not in message
    events = await fresh.usage.events_of(user_id, 1)
    assert fresh.usage.balances[str(user_id)] == 10_000
    assert events[-1]["status"] == "failed"
    assert events[-1]["total_tokens"] == 0
    assert events[-1]["cost_usd"] == "0"  # written plainly, not "0E-10"
    # (Other tests' callers may still have a lease open, until it idles out.)
    assert not [h for h in fresh.usage.open_holds() if h.account == str(user_id)]


async def test_when_every_provider_rate_limits_the_caller_gets_429_with_retry_after(
    fresh: Stack,
) -> None:
    _, token = fresh.user()
    async with fresh.http(token) as http:
        response = await http.post("/v1/chat/completions", json=chat("[[fail:alpha:429,beta:429]]"))

    assert response.status_code == 429
    assert response.json()["error"]["type"] == "requests"
    assert int(response.headers["Retry-After"]) >= 1


async def test_a_request_the_provider_rejects_is_a_400_and_costs_nothing(fresh: Stack) -> None:
    user_id, token = fresh.user(tokens=1_000)
    async with fresh.http(token) as http:
        response = await http.post("/v1/chat/completions", json=chat("[[fail:alpha:400]]"))

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "alpha says 400"
    assert fresh.beta.calls == 0, "a request the provider rejects is not retried elsewhere"
    await fresh.usage.events_of(user_id, 1)
    assert fresh.usage.balances[str(user_id)] == 1_000


def nested(depth: int) -> Any:
    value: Any = {"type": "string"}
    for _ in range(depth):
        value = {"type": "array", "items": value}
    return value


DEEP_TOOL = {"type": "function", "function": {"name": "f", "parameters": nested(300)}}
DEEP_TOOL_CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": nested(300)}}
    ],
}

BAD_REQUESTS = [
    ("unknown model", {"model": "nope", "messages": [{"role": "user", "content": "x"}]}, 404,
     "model_not_found"),
    ("model outside the plan", chat("x", model="pro-only"), 403, "model_not_in_plan"),
    ("messages not a list", {"model": "gpt-test", "messages": "hello"}, 400, "invalid_request"),
    ("empty messages", {"model": "gpt-test", "messages": []}, 400, "invalid_request"),
    ("unknown role", {"model": "gpt-test", "messages": [{"role": "wizard", "content": "x"}]}, 400,
     "invalid_request"),
    ("missing model", {"messages": [{"role": "user", "content": "x"}]}, 400, "missing_parameter"),
    ("negative max_tokens", chat("x", max_tokens=-5), 400, "invalid_request"),
    ("huge max_tokens", chat("x", max_tokens=5_000), 400, "invalid_request"),
    ("max_tokens as text", chat("x", max_tokens="10"), 400, "invalid_request"),
    ("stream as text", chat("x", stream="yes"), 400, "invalid_request"),
    ("several choices", chat("x", n=3), 400, "invalid_request"),
    ("unsupported parameter", chat("x", frobnicate=True), 400, "unsupported_parameter"),
    ("oversized prompt", chat("word " * 5_000), 400, "context_length_exceeded"),
    ("chat model on embeddings", None, 400, "invalid_request"),
    ("tool schema nested 300 deep", chat("x", tools=[DEEP_TOOL]), 400, "unsafe_input"),
    ("tool call nested 300 deep", {"model": "gpt-test", "messages": [DEEP_TOOL_CALL]}, 400,
     "unsafe_input"),
    ("NUL in a message", chat("a\x00b"), 400, "unsafe_input"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "body", "status", "code"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
async def test_bad_input_gets_an_openai_shaped_4xx_and_leaves_no_hold(
    fresh: Stack, case: str, body: dict[str, object] | None, status: int, code: str
) -> None:
    user_id, token = fresh.user()
    reservations = fresh.usage.reservation_calls
    async with fresh.http(token) as http:
        if body is None:
            response = await http.post("/v1/embeddings", json={"model": "gpt-test", "input": "x"})
        else:
            response = await http.post("/v1/chat/completions", json=body)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert fresh.usage.reservation_calls == reservations, "no hold is taken for a bad request"
    assert fresh.alpha.calls == 0
    assert await logged(fresh.engine, user_id) == []


async def test_a_body_that_is_not_json_is_a_400(fresh: Stack) -> None:
    _, token = fresh.user()
    async with fresh.http(token) as http:
        response = await http.post(
            "/v1/chat/completions",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_a_missing_or_forged_token_is_a_401_in_openai_shape(fresh: Stack) -> None:
    async with fresh.http("not-a-jwt") as http:
        forged = await http.post("/v1/chat/completions", json=chat("x"))
        anonymous = await http.get("/v1/models", headers={"Authorization": ""})

    assert forged.status_code == 401 and anonymous.status_code == 401
    assert forged.json()["error"]["type"] == "invalid_request_error"
    assert forged.json()["error"]["code"] == "invalid_token"


async def test_a_service_token_cannot_spend_tokens(fresh: Stack) -> None:
    token = fresh.key.mint("service:gateway", typ="service")
    async with fresh.http(token) as http:
        response = await http.post("/v1/chat/completions", json=chat("x"))
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"


async def test_routes_outside_the_openai_prefixes_keep_problem_json(fresh: Stack) -> None:
    async with fresh.http("x") as http:
        response = await http.get("/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
