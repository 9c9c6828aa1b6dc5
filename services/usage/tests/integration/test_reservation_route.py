"""The reservation route is served ahead of the FastAPI frame; it must answer as the frame did."""

from __future__ import annotations

import uuid

from usage_harness import Usage


async def test_a_body_that_is_not_json_is_a_422_problem_naming_the_body(usage: Usage) -> None:
    headers = usage.service_headers(usage.user_token(uuid.uuid4()))
    response = await usage.http.post(
        "/internal/reservations",
        content=b'{"request_id": "r", "model": ',
        headers={**headers, "Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/validation-error")
    assert problem["errors"][0]["loc"][0] == "body"


async def test_an_unknown_field_is_refused_by_name(usage: Usage) -> None:
    response = await usage.reserve(usage.user_token(uuid.uuid4()), tokens=5)

    assert response.status_code == 422
    assert response.json()["detail"].startswith("tokens:")


async def test_token_counts_given_as_text_or_fractions_are_refused_and_hold_nothing(
    usage: Usage,
) -> None:
    token = usage.user_token(uuid.uuid4())
    as_text = await usage.reserve(token, prompt_tokens="100")
    as_fraction = await usage.reserve(token, prompt_tokens=10, max_completion_tokens=2.5)
    whole_but_float = await usage.reserve(token, prompt_tokens=10, ttl_seconds=60.0)
    balance = await usage.balance(token)

    assert [as_text.status_code, as_fraction.status_code, whole_but_float.status_code] == [
        422,
        422,
        422,
    ]
    assert as_text.json()["detail"].startswith("prompt_tokens:")
    assert balance["reserved"] == 0


async def test_an_oversized_body_is_a_413_before_it_is_parsed(usage: Usage) -> None:
    headers = usage.service_headers(usage.user_token(uuid.uuid4()))
    response = await usage.http.post(
        "/internal/reservations",
        json={"request_id": "r", "model": "x" * 40_000, "prompt_tokens": 1},
        headers=headers,
    )

    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_the_callers_request_id_comes_back_and_the_call_is_counted(usage: Usage) -> None:
    token = usage.user_token(uuid.uuid4())
    headers = {**usage.service_headers(token), "X-Request-ID": "llm-call-42"}
    response = await usage.http.post(
        "/internal/reservations",
        json={"request_id": uuid.uuid4().hex, "model": "gpt-4o-mini", "prompt_tokens": 10},
        headers=headers,
    )
    metrics = await usage.http.get("/metrics")

    assert response.status_code == 201, response.text
    assert response.headers["X-Request-ID"] == "llm-call-42"
    assert set(response.json()) == {
        "reservation_id",
        "account_id",
        "held_tokens",
        "max_completion_tokens",
        "available",
        "expires_at",
        "input_per_million",
        "output_per_million",
        "unit",
        "lease",
    }
    assert response.json()["lease"] is None  # a plain hold for one call
    assert (
        'tollgate_http_requests_total{method="POST",route="/internal/reservations",'
        'service="usage",status="201"}' in metrics.text
    )
