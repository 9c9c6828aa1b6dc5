"""Chat-completions requests become Messages API requests, and the answers come back."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from pydantic import SecretStr

from tollgate.llm_proxy.catalog.service import Deployment, Provider
from tollgate.llm_proxy.errors import InvalidRequest
from tollgate.llm_proxy.upstream.anthropic import AnthropicAdapter

CLAUDE = Deployment(
    Provider("claude", "anthropic", "https://claude.test", SecretStr("sk-x"), {}),
    "claude-x",
    Decimal(1),
    Decimal(5),
)


def sent(body: dict[str, object], stream: bool = False) -> dict[str, object]:
    request = AnthropicAdapter().prepare("chat", body, CLAUDE, stream)
    assert request.url == "https://claude.test/v1/messages"
    assert request.headers["x-api-key"] == "sk-x"
    return dict(orjson.loads(request.payload))


def test_system_messages_move_to_the_system_field() -> None:
    body = sent(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
                {"role": "user", "content": "Hi"},
            ],
            "max_tokens": 50,
            "stop": "END",
            "temperature": 0.2,
        }
    )
    assert body["system"] == "Be brief.\n\nUse French."
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    assert body["max_tokens"] == 50
    assert body["stop_sequences"] == ["END"]
    assert body["temperature"] == 0.2
    assert body["model"] == "claude-x"


def test_tool_calls_and_results_become_tool_use_and_tool_result_blocks() -> None:
    body = sent(
        {
            "messages": [
                {"role": "user", "content": "Weather?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "Cold"},
            ],
            "max_tokens": 10,
            "tools": [{"type": "function", "function": {"name": "weather", "parameters": {}}}],
            "tool_choice": "required",
        }
    )
    messages = body["messages"]
    assert isinstance(messages, list)
    assert messages[1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Oslo"}}
    ]
    assert messages[2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": "call_1",
        "content": "Cold",
    }
    assert body["tool_choice"] == {"type": "any"}


def test_a_data_url_image_is_sent_as_base64() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    body = sent({"messages": [{"role": "user", "content": [image]}], "max_tokens": 5})
    messages = body["messages"]
    assert isinstance(messages, list)
    assert messages[0]["content"][0]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": "AAAA",
    }


def test_endpoints_other_than_chat_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        AnthropicAdapter().prepare("embeddings", {"input": "x"}, CLAUDE, False)


def test_a_reply_reads_back_as_a_chat_completion_with_usage() -> None:
    body, usage, text = AnthropicAdapter().read_reply(
        "chat",
        {
            "id": "msg_1",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "tu_1", "name": "weather", "input": {"city": "Oslo"}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 12, "output_tokens": 7, "cache_read_input_tokens": 3},
        },
        "claude-test",
    )
    choice = body["choices"][0]
    assert choice["message"]["content"] == "Let me check."
    assert choice["message"]["tool_calls"][0]["function"] == {
        "name": "weather",
        "arguments": '{"city":"Oslo"}',
    }
    assert choice["finish_reason"] == "tool_calls"
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (15, 7)
    assert body["usage"]["total_tokens"] == 22
    assert body["model"] == "claude-test"
    assert text.startswith("Let me check.")


def _event(name: str, **payload: object) -> tuple[str, bytes]:
    return name, orjson.dumps({"type": name, **payload})


def test_a_stream_translates_to_chunks_and_keeps_the_final_usage() -> None:
    translator = AnthropicAdapter().translator("chat", "claude-test", client_wants_usage=True)
    frames: list[bytes] = []
    for name, data in [
        _event(
            "message_start", message={"id": "m1", "usage": {"input_tokens": 9, "output_tokens": 1}}
        ),
        _event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        _event("ping"),
        _event("content_block_delta", index=0, delta={"type": "text_delta", "text": "Hel"}),
        _event("content_block_delta", index=0, delta={"type": "text_delta", "text": "lo"}),
        _event("message_delta", delta={"stop_reason": "max_tokens"}, usage={"output_tokens": 2}),
        _event("message_stop"),
    ]:
        frames.extend(translator.feed(name, data))

    chunks = [orjson.loads(f.removeprefix(b"data: ")) for f in frames]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:3]] == ["Hel", "lo"]
    assert chunks[3]["choices"][0]["finish_reason"] == "length"
    assert chunks[4]["usage"] == {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
    assert translator.state.finished
    assert "".join(translator.state.text) == "Hello"


def test_an_error_event_is_noticed() -> None:
    translator = AnthropicAdapter().translator("chat", "claude-test", client_wants_usage=False)
    translator.feed(*_event("error", error={"type": "overloaded_error", "message": "Overloaded"}))
    assert translator.state.error == "Overloaded"
    assert not translator.state.finished


def test_a_streamed_tool_call_becomes_tool_call_deltas() -> None:
    translator = AnthropicAdapter().translator("chat", "claude-test", client_wants_usage=False)
    frames: list[bytes] = []
    for name, data in [
        _event("message_start", message={"id": "m2", "usage": {"input_tokens": 5}}),
        _event(
            "content_block_start",
            index=1,
            content_block={"type": "tool_use", "id": "tu_9", "name": "weather", "input": {}},
        ),
        _event("content_block_delta", index=1, delta={"type": "input_json_delta",
                                                       "partial_json": '{"city": '}),
        _event("content_block_delta", index=1, delta={"type": "input_json_delta",
                                                       "partial_json": '"Oslo"}'}),
        _event("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 9}),
        _event("message_stop"),
    ]:  # fmt: skip
        frames.extend(translator.feed(name, data))

    deltas = [orjson.loads(f.removeprefix(b"data: "))["choices"][0] for f in frames]
    start = deltas[1]["delta"]["tool_calls"][0]
    assert (start["index"], start["id"], start["function"]["name"]) == (0, "tu_9", "weather")
    arguments = "".join(d["delta"]["tool_calls"][0]["function"]["arguments"] for d in deltas[1:4])
    assert arguments == '{"city": "Oslo"}'
    assert deltas[-1]["finish_reason"] == "tool_calls"
    assert len(frames) == 5, "no usage chunk for a client that did not ask for it"
    assert translator.state.usage is not None and translator.state.usage.completion_tokens == 9
