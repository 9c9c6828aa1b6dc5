"""What every provider adapter offers: a request to send, a reply read back in OpenAI's shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from tollgate.llm_proxy.catalog.service import Deployment

__all__ = [
    "Adapter",
    "StreamTranslator",
    "UpstreamRequest",
    "Usage",
    "sse_data",
]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class UpstreamRequest:
    url: str
    headers: dict[str, str]
    payload: bytes


@dataclass
class StreamState:
    """What a translator has learnt from the stream so far."""

    usage: Usage | None = None
    text: list[str] = field(default_factory=list)  # completion text, to count when usage is missing
    error: str | None = None  # an error the upstream sent in-band
    finished: bool = False  # the upstream ended the stream properly


class StreamTranslator(Protocol):
    state: StreamState

    def feed(self, event: str | None, data: bytes) -> list[bytes]:
        """Turn one upstream SSE event into zero or more SSE frames for the client."""
        ...


class Adapter(Protocol):
    def prepare(
        self, endpoint: str, body: dict[str, Any], deployment: Deployment, stream: bool
    ) -> UpstreamRequest: ...

    def read_reply(
        self, endpoint: str, reply: dict[str, Any], model_id: str
    ) -> tuple[dict[str, Any], Usage | None, str]:
        """The reply in OpenAI's shape, the usage it reports, and its completion text."""
        ...

    def translator(
        self, endpoint: str, model_id: str, client_wants_usage: bool
    ) -> StreamTranslator: ...


def sse_data(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def usage_of(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt = raw.get("prompt_tokens")
    completion = raw.get("completion_tokens", 0)
    if not isinstance(prompt, int) or not isinstance(completion, int | None):
        return None
    return Usage(max(0, prompt), max(0, completion or 0))
