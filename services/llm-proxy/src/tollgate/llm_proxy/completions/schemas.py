"""Request bodies the proxy accepts, checked before any hold is taken.

Validation only: the caller's own JSON is what goes upstream (with the model and
limits rewritten), so fields we accept reach the provider exactly as sent.
Parameters outside these lists are refused rather than silently dropped.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from tollgate.llm_proxy.errors import InvalidRequest

__all__ = [
    "ChatCompletionRequest",
    "CompletionRequest",
    "EmbeddingRequest",
    "parse_request",
]

MAX_TOKENS_BOUND = 10_000_000
Number = float | int


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StreamOptions(_Strict):
    include_usage: StrictBool | None = None
    include_obfuscation: StrictBool | None = None


class TextPart(_Strict):
    type: Literal["text"]
    text: StrictStr


class ImageUrl(_Strict):
    url: StrictStr
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Strict):
    type: Literal["image_url"]
    image_url: ImageUrl


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: StrictStr | list[TextPart | ImagePart] | None = None
    name: StrictStr | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: StrictStr | None = None


class FunctionSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: StrictStr = Field(min_length=1, max_length=64)
    description: StrictStr | None = None
    parameters: dict[str, Any] | None = None


class Tool(_Strict):
    type: Literal["function"]
    function: FunctionSpec


class _Sampling(_Strict):
    model: StrictStr = Field(min_length=1, max_length=200)
    max_tokens: StrictInt | None = Field(None, ge=1, le=MAX_TOKENS_BOUND)
    temperature: Number | None = Field(None, ge=0, le=2)
    top_p: Number | None = Field(None, ge=0, le=1)
    # One choice per call: holds and bills are sized for one completion.
    n: StrictInt | None = Field(None, ge=1, le=1)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    stop: StrictStr | list[StrictStr] | None = None
    presence_penalty: Number | None = Field(None, ge=-2, le=2)
    frequency_penalty: Number | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, Number] | None = None
    seed: StrictInt | None = None
    user: StrictStr | None = Field(None, max_length=256)


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1, max_length=10_000)
    max_completion_tokens: StrictInt | None = Field(None, ge=1, le=MAX_TOKENS_BOUND)
    logprobs: StrictBool | None = None
    top_logprobs: StrictInt | None = Field(None, ge=0, le=20)
    tools: list[Tool] | None = Field(None, max_length=128)
    tool_choice: StrictStr | dict[str, Any] | None = None
    parallel_tool_calls: StrictBool | None = None
    response_format: dict[str, Any] | None = None
    metadata: dict[str, StrictStr] | None = None
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None

    @property
    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_Sampling):
    prompt: StrictStr | list[StrictStr] = Field(min_length=1)
    logprobs: StrictInt | None = Field(None, ge=0, le=5)
    echo: StrictBool | None = None
    suffix: StrictStr | None = None
    best_of: StrictInt | None = Field(None, ge=1, le=1)

    @property
    def requested_max_tokens(self) -> int | None:
        return self.max_tokens


class EmbeddingRequest(_Strict):
    model: StrictStr = Field(min_length=1, max_length=200)
    input: StrictStr | list[StrictStr] | list[StrictInt] | list[list[StrictInt]] = Field(
        min_length=1
    )
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: StrictInt | None = Field(None, ge=1, le=10_000)
    user: StrictStr | None = Field(None, max_length=256)


T = TypeVar("T", bound=BaseModel)


def parse_request(model: type[T], body: Any) -> T:
    """Validate a body, or raise an OpenAI-shaped 400 naming the first offending field."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            raise InvalidRequest(
                f"Unsupported parameter: '{where}'", code="unsupported_parameter", param=where
            ) from None
        if first["type"] == "missing":
            raise InvalidRequest(
                f"Missing required parameter: '{where}'", code="missing_parameter", param=where
            ) from None
        raise InvalidRequest(f"Invalid value for '{where}': {first['msg']}", param=where) from None
