from __future__ import annotations

import orjson

from tollgate.shared.errors import (
    PaymentRequired,
    ServiceUnavailable,
    TollgateError,
    TooManyRequests,
    Unauthorized,
)
from tollgate.shared.openai_errors import (
    openai_shaped,
    render_openai_error,
    stream_interrupted_error,
)


def error_of(raised: TollgateError) -> dict[str, object]:
    body: dict[str, dict[str, object]] = orjson.loads(render_openai_error(raised))
    return body["error"]


def test_a_bad_key_reads_as_openai_words_it() -> None:
    error = error_of(Unauthorized("API key is not valid", type_slug="invalid-api-key"))
    assert error == {
        "message": "API key is not valid",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }


def test_a_rate_limit_and_an_empty_balance_carry_openai_codes() -> None:
    limited = error_of(TooManyRequests("slow down", retry_after=3))
    broke = error_of(PaymentRequired())
    assert (limited["type"], limited["code"]) == ("requests", "rate_limit_exceeded")
    assert (broke["type"], broke["code"]) == ("insufficient_quota", "insufficient_quota")


def test_an_error_that_names_its_own_code_keeps_it() -> None:
    class ModelGone(TollgateError):
        status_code, type_slug, code = 404, "model-not-found", "model_not_found"

    assert error_of(ModelGone("no such model"))["code"] == "model_not_found"


def test_outages_and_bugs_are_server_errors() -> None:
    assert error_of(ServiceUnavailable())["type"] == "server_error"
    assert error_of(TollgateError("boom"))["type"] == "server_error"
    cut = orjson.loads(stream_interrupted_error("cut"))["error"]
    assert (cut["type"], cut["code"]) == ("server_error", "stream_interrupted")


def test_both_llm_prefixes_are_openai_shaped_and_nothing_else_is() -> None:
    assert openai_shaped("/v1/chat/completions") and openai_shaped("/api/llm/models")
    assert openai_shaped("/v1") and openai_shaped("/api/llm")
    assert not openai_shaped("/api/llmx") and not openai_shaped("/api/tokens/balance")
    assert not openai_shaped("/v10/models")
