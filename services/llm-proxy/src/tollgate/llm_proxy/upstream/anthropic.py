"""Anthropic's Messages API, translated to and from the chat-completions shape."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from tollgate.llm_proxy.catalog.service import Deployment
from tollgate.llm_proxy.errors import InvalidRequest
from tollgate.llm_proxy.upstream.protocol import StreamState, UpstreamRequest, Usage, sse_data

__all__ = ["AnthropicAdapter"]

API_VERSION = "2023-06-01"
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _content_blocks(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content:
        if part.get("type") == "text":
            blocks.append({"type": "text", "text": str(part.get("text", ""))})
        elif part.get("type") == "image_url":
            url = str((part.get("image_url") or {}).get("url", ""))
            if url.startswith("data:"):
                media, _, data = url[5:].partition(";base64,")
                blocks.append(
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": media, "data": data},
                    }
                )
            else:
                blocks.append({"type": "image", "source": {"type": "url", "url": url}})
        else:
            raise InvalidRequest(
                f"content part type {part.get('type')!r} is not supported for this model",
                param="messages",
            )
    return blocks


def _messages(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message["role"]
        if role in ("system", "developer"):
            system.append(_text_of(message.get("content")))
        elif role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": str(message.get("tool_call_id", "")),
                "content": _text_of(message.get("content")),
            }
            out.append({"role": "user", "content": [block]})
        else:
            blocks = _content_blocks(message.get("content"))
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                arguments = function.get("arguments") or "{}"
                try:
                    tool_input = orjson.loads(arguments)
                except orjson.JSONDecodeError:
                    tool_input = {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": str(call.get("id", "")),
                        "name": str(function.get("name", "")),
                        "input": tool_input,
                    }
                )
            out.append({"role": "assistant" if role == "assistant" else "user", "content": blocks})
    return "\n\n".join(s for s in system if s), out


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"type": "tool", "name": str(choice["function"].get("name", ""))}
    raise InvalidRequest("tool_choice is not understood", param="tool_choice")


class AnthropicAdapter:
    def prepare(
        self, endpoint: str, body: dict[str, Any], deployment: Deployment, stream: bool
    ) -> UpstreamRequest:
        if endpoint != "chat":
            raise InvalidRequest(f"{endpoint} is not offered by this model's provider")
        system, messages = _messages(body["messages"])
        payload: dict[str, Any] = {
            "model": deployment.upstream_model,
            "messages": messages,
            "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens"),
        }
        if system:
            payload["system"] = system
        for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p")):
            if body.get(ours) is not None:
                payload[theirs] = body[ours]
        stop = body.get("stop")
        if stop:
            payload["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        if body.get("tools"):
            payload["tools"] = [
                {
                    "name": t["function"]["name"],
                    "description": t["function"].get("description", ""),
                    "input_schema": t["function"].get("parameters")
                    or {"type": "object", "properties": {}},
                }
                for t in body["tools"]
            ]
        tool_choice = _tool_choice(body.get("tool_choice"))
        if tool_choice is not None:
            payload["tool_choice"] = tool_choice
        if body.get("user"):
            payload["metadata"] = {"user_id": str(body["user"])}
        if stream:
            payload["stream"] = True
        provider = deployment.provider
        headers = {
            "Content-Type": "application/json",
            "anthropic-version": API_VERSION,
            **provider.headers,
        }
        if provider.api_key is not None:
            headers["x-api-key"] = provider.api_key.get_secret_value()
        return UpstreamRequest(provider.base_url + "/v1/messages", headers, orjson.dumps(payload))

    def read_reply(
        self, endpoint: str, reply: dict[str, Any], model_id: str
    ) -> tuple[dict[str, Any], Usage | None, str]:
        text: list[str] = []
        tool_calls: list[dict[str, Any]] = []
        for block in reply.get("content") or []:
            if block.get("type") == "text":
                text.append(str(block.get("text", "")))
            elif block.get("type") == "tool_use":
                tool_calls.append(
                    {
                        "id": block.get("id"),
                        "type": "function",
                        "function": {
                            "name": block.get("name"),
                            "arguments": orjson.dumps(block.get("input") or {}).decode(),
                        },
                    }
                )
        usage = _usage(reply.get("usage"), None)
        message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        body: dict[str, Any] = {
            "id": f"chatcmpl-{reply.get('id', uuid.uuid4().hex)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model_id,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": FINISH_REASONS.get(str(reply.get("stop_reason")), "stop"),
                    "logprobs": None,
                }
            ],
        }
        if usage is not None:
            body["usage"] = {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            }
        counted = "".join(text) + "".join(
            c["function"]["name"] + c["function"]["arguments"] for c in tool_calls
        )
        return body, usage, counted

    def translator(
        self, endpoint: str, model_id: str, client_wants_usage: bool
    ) -> AnthropicStreamTranslator:
        return AnthropicStreamTranslator(model_id, client_wants_usage)


def _usage(raw: Any, prompt_so_far: int | None) -> Usage | None:
    if not isinstance(raw, dict) or ("output_tokens" not in raw and "input_tokens" not in raw):
        return None
    prompt = (
        int(raw.get("input_tokens") or 0)
        + int(raw.get("cache_creation_input_tokens") or 0)
        + int(raw.get("cache_read_input_tokens") or 0)
    )
    if prompt == 0 and prompt_so_far:
        prompt = prompt_so_far
    return Usage(prompt, int(raw.get("output_tokens") or 0))


class AnthropicStreamTranslator:
    """Messages API stream events in, chat.completion.chunk frames out."""

    def __init__(self, model_id: str, client_wants_usage: bool) -> None:
        self.model_id = model_id
        self.client_wants_usage = client_wants_usage
        self.state = StreamState()
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.prompt_tokens = 0
        self.tool_index: dict[int, int] = {}  # content block index -> tool call index

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        frame: bytes = sse_data(
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model_id,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }
        )
        return frame

    def feed(self, event: str | None, data: bytes) -> list[bytes]:
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            self.state.error = "upstream sent a malformed event"
            return []
        kind = event or (payload.get("type") if isinstance(payload, dict) else None)
        if not isinstance(payload, dict):
            return []
        if kind == "message_start":
            message = payload.get("message") or {}
            if isinstance(message.get("id"), str):
                self.id = f"chatcmpl-{message['id']}"
            usage = _usage(message.get("usage"), None)
            if usage is not None:
                self.prompt_tokens = usage.prompt_tokens
                self.state.usage = usage
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = payload.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = self.tool_index.setdefault(
                    int(payload.get("index", 0)), len(self.tool_index)
                )
                name = str(block.get("name", ""))
                self.state.text.append(name)
                call = {
                    "index": index,
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }
                return [self._chunk({"tool_calls": [call]})]
            return []
        if kind == "content_block_delta":
            delta = payload.get("delta") or {}
            if delta.get("type") == "text_delta":
                text = str(delta.get("text", ""))
                self.state.text.append(text)
                return [self._chunk({"content": text})]
            if delta.get("type") == "input_json_delta":
                partial = str(delta.get("partial_json", ""))
                self.state.text.append(partial)
                index = self.tool_index.get(int(payload.get("index", 0)), 0)
                call = {"index": index, "function": {"arguments": partial}}
                return [self._chunk({"tool_calls": [call]})]
            return []
        if kind == "message_delta":
            usage = _usage(payload.get("usage"), self.prompt_tokens)
            if usage is not None:
                self.state.usage = usage
            reason = (payload.get("delta") or {}).get("stop_reason")
            if reason:
                return [self._chunk({}, FINISH_REASONS.get(str(reason), "stop"))]
            return []
        if kind == "message_stop":
            self.state.finished = True
            usage = self.state.usage
            if self.client_wants_usage and usage is not None:
                return [
                    sse_data(
                        {
                            "id": self.id,
                            "object": "chat.completion.chunk",
                            "created": self.created,
                            "model": self.model_id,
                            "choices": [],
                            "usage": {
                                "prompt_tokens": usage.prompt_tokens,
                                "completion_tokens": usage.completion_tokens,
                                "total_tokens": usage.prompt_tokens + usage.completion_tokens,
                            },
                        }
                    )
                ]
            return []
        if kind == "error":
            error = payload.get("error") or {}
            self.state.error = str(error.get("message") or "upstream error")
        return []
