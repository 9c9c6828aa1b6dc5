"""OpenAI-compatible upstreams (OpenAI, OpenRouter, A4F, Glama, Requesty, any base URL)."""

from __future__ import annotations

from typing import Any

import orjson

from tollgate.llm_proxy.catalog.service import Deployment
from tollgate.llm_proxy.upstream.protocol import (
    StreamState,
    UpstreamRequest,
    Usage,
    sse_data,
    usage_of,
)

__all__ = ["OpenAIAdapter"]

PATHS = {"chat": "/chat/completions", "completions": "/completions", "embeddings": "/embeddings"}


class OpenAIAdapter:
    def prepare(
        self, endpoint: str, body: dict[str, Any], deployment: Deployment, stream: bool
    ) -> UpstreamRequest:
        provider = deployment.provider
        payload = {**body, "model": deployment.upstream_model}
        if stream:
            # Always ask for usage, whatever the client asked: it is what we bill.
            payload["stream_options"] = {
                **(body.get("stream_options") or {}),
                "include_usage": True,
            }
        headers = {"Content-Type": "application/json", **provider.headers}
        if provider.api_key is not None:
            headers["Authorization"] = f"Bearer {provider.api_key.get_secret_value()}"
        return UpstreamRequest(provider.base_url + PATHS[endpoint], headers, orjson.dumps(payload))

    def read_reply(
        self, endpoint: str, reply: dict[str, Any], model_id: str
    ) -> tuple[dict[str, Any], Usage | None, str]:
        reply["model"] = model_id
        usage = usage_of(reply.get("usage"))
        if endpoint == "embeddings" and usage is None and isinstance(reply.get("usage"), dict):
            prompt = reply["usage"].get("prompt_tokens")
            usage = Usage(prompt, 0) if isinstance(prompt, int) else None
        return reply, usage, _completion_text(reply.get("choices"))

    def translator(
        self, endpoint: str, model_id: str, client_wants_usage: bool
    ) -> OpenAIStreamTranslator:
        return OpenAIStreamTranslator(model_id, client_wants_usage)


def _completion_text(choices: Any) -> str:
    parts: list[str] = []
    for choice in choices if isinstance(choices, list) else []:
        if not isinstance(choice, dict):
            continue
        message = choice.get("message") or choice.get("delta") or {}
        if isinstance(message, dict):
            if isinstance(message.get("content"), str):
                parts.append(message["content"])
            for call in message.get("tool_calls") or []:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict):
                    parts.append(str(function.get("name") or ""))
                    parts.append(str(function.get("arguments") or ""))
        if isinstance(choice.get("text"), str):
            parts.append(choice["text"])
    return "".join(parts)


class OpenAIStreamTranslator:
    def __init__(self, model_id: str, client_wants_usage: bool) -> None:
        self.model_id = model_id
        self.client_wants_usage = client_wants_usage
        self.state = StreamState()

    def feed(self, event: str | None, data: bytes) -> list[bytes]:
        if data == b"[DONE]":
            self.state.finished = True
            return []
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            self.state.error = "upstream sent a malformed event"
            return []
        if not isinstance(chunk, dict):
            return []
        if "error" in chunk:
            error = chunk["error"]
            self.state.error = str(error.get("message") if isinstance(error, dict) else error)
            return []
        usage = usage_of(chunk.get("usage"))
        if usage is not None:
            self.state.usage = usage
        choices = chunk.get("choices")
        text = _completion_text(choices)
        if text:
            self.state.text.append(text)
        if not self.client_wants_usage:
            if not choices:
                return []  # the usage-only chunk the client did not ask for
            chunk.pop("usage", None)
        chunk["model"] = self.model_id
        return [sse_data(chunk)]
