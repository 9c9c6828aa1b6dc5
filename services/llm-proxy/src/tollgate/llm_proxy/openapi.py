"""The OpenAI routes as the OpenAPI document shows them: bodies, answers, streams.

The routes read their JSON themselves (to answer in OpenAI's error shape and to
forward the caller's own fields) and pass the provider's answer through, so
FastAPI sees neither their bodies nor their answers. ``amend_document`` adds both:
the request models the routes validate with, and OpenAI's answer shapes, with
``text/event-stream`` beside JSON where ``"stream": true`` is accepted. The answer
models name the fields a client relies on and allow the rest, since providers add
their own.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema

from tollgate.llm_proxy.completions.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
)

__all__ = ["amend_document", "body_of"]

REF = "#/components/schemas/{model}"
PREFIXES = ("/v1", "/api/llm")
BALANCE_HEADER = {
    "X-Tollgate-Tokens-Remaining": {
        "description": "The caller's balance after this call (after the hold, when streamed)",
        "schema": {"type": "string"},
    }
}


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class CompletionUsage(_Open):
    prompt_tokens: int
    completion_tokens: int = 0
    total_tokens: int


class ChatCompletionMessage(_Open):
    role: str
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class ChatCompletionChoice(_Open):
    index: int
    message: ChatCompletionMessage
    finish_reason: str | None = None


class ChatCompletion(_Open):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatCompletionChoice]
    usage: CompletionUsage | None = None


class ChatCompletionDelta(_Open):
    role: str | None = None
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class ChatCompletionChunkChoice(_Open):
    index: int
    delta: ChatCompletionDelta
    finish_reason: str | None = None


class ChatCompletionChunk(_Open):
    """One ``data:`` event of a streamed chat completion; the stream ends with ``[DONE]``."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChatCompletionChunkChoice]
    usage: CompletionUsage | None = None


class CompletionChoice(_Open):
    index: int
    text: str
    finish_reason: str | None = None


class Completion(_Open):
    """A legacy text completion; streamed, each ``data:`` event has this shape too."""

    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: CompletionUsage | None = None


class Embedding(_Open):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str


class EmbeddingUsage(_Open):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(_Open):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage | None = None


class ModelEntry(_Open):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    context_window: int
    max_output_tokens: int
    endpoints: list[str]


class ModelList(_Open):
    object: Literal["list"]
    data: list[ModelEntry]


class ProviderModel(_Open):
    model: str
    upstream_model: str


class Provider(_Open):
    id: str
    kind: str
    models: list[ProviderModel]


class ProviderList(_Open):
    object: Literal["list"]
    data: list[Provider]


REQUESTS: tuple[type[BaseModel], ...] = (ChatCompletionRequest, CompletionRequest, EmbeddingRequest)
ANSWERS: tuple[type[BaseModel], ...] = (
    ChatCompletion,
    ChatCompletionChunk,
    Completion,
    EmbeddingList,
    ModelEntry,
    ModelList,
    ProviderList,
)
# (method, path under each prefix) → (answer, streamed chunk or None)
OPERATIONS: dict[tuple[str, str], tuple[type[BaseModel], type[BaseModel] | None]] = {
    ("post", "/chat/completions"): (ChatCompletion, ChatCompletionChunk),
    ("post", "/completions"): (Completion, Completion),
    ("post", "/embeddings"): (EmbeddingList, None),
    ("get", "/models"): (ModelList, None),
    ("get", "/models/{model_id}"): (ModelEntry, None),
    ("get", "/providers"): (ProviderList, None),
}


def body_of(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route whose JSON body follows ``model``."""
    schema = {"$ref": REF.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _event(chunk: type[BaseModel]) -> dict[str, Any]:
    """One server-sent event of a streamed answer (OpenAPI 3.1 describes a stream by its
    events): a chunk of the answer as JSON, an in-band error, or the final ``[DONE]``."""
    return {
        "type": "object",
        "description": (
            f"`data: <{chunk.__name__} as JSON>` events, one per piece of the answer, then "
            "`data: [DONE]`. A failure after the first event arrives as a "
            '`data: {"error": {...}}` event before `[DONE]`.'
        ),
        "required": ["data"],
        "properties": {
            "data": {
                "anyOf": [
                    {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": {
                            "anyOf": [_ref(chunk), {"$ref": REF.format(model="OpenAIError")}]
                        },
                    },
                    {"const": "[DONE]"},
                ]
            }
        },
    }


def _success(answer: type[BaseModel], chunk: type[BaseModel] | None) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": _ref(answer)}}
    description = "The answer, in OpenAI's shape"
    if chunk is not None:
        description += "; with `stream: true`, server-sent events instead"
        content["text/event-stream"] = {"schema": _event(chunk)}
    return {"description": description, "headers": BALANCE_HEADER, "content": content}


def amend_document(document: dict[str, Any]) -> None:
    """Adds the request and answer schemas of the OpenAI routes to ``document``."""
    _, definitions = models_json_schema(
        [(m, "validation") for m in REQUESTS] + [(m, "serialization") for m in ANSWERS],
        ref_template=REF,
    )
    document.setdefault("components", {}).setdefault("schemas", {}).update(definitions["$defs"])
    paths: dict[str, Any] = document.get("paths", {})
    for (method, tail), (answer, chunk) in OPERATIONS.items():
        for prefix in PREFIXES:
            operation = paths.get(prefix + tail, {}).get(method)
            if operation is not None:
                responses = operation.setdefault("responses", {})
                responses["200"] = _success(answer, chunk)
                if method == "get":
                    # Reads are not paid for: no balance to report.
                    responses["200"].pop("headers")
