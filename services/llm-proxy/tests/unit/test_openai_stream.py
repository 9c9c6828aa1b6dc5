"""OpenAI-compatible streams pass through, with our model name and the usage we need."""

from __future__ import annotations

from decimal import Decimal

import orjson

from tollgate.llm_proxy.catalog.service import Deployment, Provider
from tollgate.llm_proxy.upstream.openai_compat import OpenAIAdapter

DEPLOYMENT = Deployment(
    Provider("alpha", "openai", "https://alpha.test/v1", None, {"X-Title": "T"}),
    "vendor/model",
    Decimal(1),
    Decimal(2),
)


def chunk(content: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    choices = [] if content is None else [{"index": 0, "delta": {"content": content}}]
    body: dict[str, object] = {"model": "vendor/model", "choices": choices}
    if usage:
        body["usage"] = usage
    return orjson.dumps(body)


def test_a_streamed_request_always_asks_the_upstream_for_usage() -> None:
    request = OpenAIAdapter().prepare(
        "chat", {"model": "ours", "messages": [], "stream": True}, DEPLOYMENT, True
    )
    body = orjson.loads(request.payload)
    assert request.url == "https://alpha.test/v1/chat/completions"
    assert body["model"] == "vendor/model"
    assert body["stream_options"] == {"include_usage": True}
    assert "Authorization" not in request.headers
    assert request.headers["X-Title"] == "T"


def test_the_usage_chunk_is_kept_from_a_client_that_did_not_ask_for_it() -> None:
    translator = OpenAIAdapter().translator("chat", "ours", client_wants_usage=False)
    first = translator.feed(None, chunk("Hi"))
    last = translator.feed(None, chunk(None, {"prompt_tokens": 4, "completion_tokens": 1}))
    translator.feed(None, b"[DONE]")

    assert orjson.loads(first[0].removeprefix(b"data: "))["model"] == "ours"
    assert last == []
    assert translator.state.usage is not None
    assert translator.state.usage.prompt_tokens == 4
    assert translator.state.finished


def test_a_client_that_asked_for_usage_gets_the_usage_chunk() -> None:
    translator = OpenAIAdapter().translator("chat", "ours", client_wants_usage=True)
    frames = translator.feed(None, chunk(None, {"prompt_tokens": 4, "completion_tokens": 1}))
    assert orjson.loads(frames[0].removeprefix(b"data: "))["usage"]["prompt_tokens"] == 4


def test_an_error_object_in_the_stream_is_noticed_and_not_forwarded() -> None:
    translator = OpenAIAdapter().translator("chat", "ours", client_wants_usage=False)
    assert translator.feed(None, b'{"error": {"message": "boom"}}') == []
    assert translator.state.error == "boom"


def test_garbage_in_the_stream_is_an_error_not_a_crash() -> None:
    translator = OpenAIAdapter().translator("chat", "ours", client_wants_usage=False)
    assert translator.feed(None, b"{not json") == []
    assert translator.state.error is not None
