"""The OpenAI routes' answers as the OpenAPI document shows them: JSON and streams.

The completion routes are direct routes (``completions/endpoints.py``): each declares
its body and its JSON answer (the models below), which ``ServiceApp`` writes into the
document. What a direct route cannot say, ``amend_document`` adds: the
``text/event-stream`` answer beside JSON where ``"stream": true`` is accepted, and
the balance header of a paid call. The catalog routes pass dicts through, so their
answer shapes are added here too. The answer models name the fields a client relies
on and allow the rest, since providers add their own.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema

from tollgate.shared.model_prices import CreditPrice

__all__ = ["ChatCompletion", "Completion", "EmbeddingList", "amend_document"]

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


class ModelPrice(_Open):
    """USD per million tokens, as plain decimal strings."""

    input_per_million: str
    output_per_million: str


class ModelEntry(_Open):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    context_window: int
    max_output_tokens: int
    endpoints: list[str]
    price: ModelPrice | None = None
    # Null until usage has announced its prices (never a wrong one).
    credits: CreditPrice | None = None


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


# The models only the amendments below reach (the direct routes write their own answers).
SCHEMAS: tuple[type[BaseModel], ...] = (
    ChatCompletionChunk,
    Completion,
    ModelEntry,
    ModelList,
    ProviderList,
)
# A paid call under each prefix → the chunk of its stream, if it can stream.
PAID: dict[str, type[BaseModel] | None] = {
    "/chat/completions": ChatCompletionChunk,
    "/completions": Completion,
    "/embeddings": None,
}
# A catalog read under each prefix (not paid for: no balance to report) → its answer.
READS: dict[str, type[BaseModel]] = {
    "/models": ModelList,
    "/models/{model_id}": ModelEntry,
    "/providers": ProviderList,
}


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


def amend_document(document: dict[str, Any]) -> None:
    """Adds the streams and balance header of the paid routes, and the catalog's answers."""
    _, definitions = models_json_schema([(m, "serialization") for m in SCHEMAS], ref_template=REF)
    document.setdefault("components", {}).setdefault("schemas", {}).update(definitions["$defs"])
    paths: dict[str, Any] = document.get("paths", {})
    for prefix in PREFIXES:
        for tail, chunk in PAID.items():
            operation = paths.get(prefix + tail, {}).get("post")
            if operation is None:
                continue
            ok = operation["responses"]["200"]  # the route's own answer, as JSON
            ok["description"] = "The answer, in OpenAI's shape"
            ok["headers"] = BALANCE_HEADER
            if chunk is not None:
                ok["description"] += "; with `stream: true`, server-sent events instead"
                ok["content"]["text/event-stream"] = {"schema": _event(chunk)}
        for tail, answer in READS.items():
            operation = paths.get(prefix + tail, {}).get("get")
            if operation is not None:
                operation["responses"]["200"] = {
                    "description": "The answer, in OpenAI's shape",
                    "content": {"application/json": {"schema": _ref(answer)}},
                }
