"""``POST /chat/completions``, ``/completions`` and ``/embeddings`` (OpenAI-compatible)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from tollgate.llm_proxy.callers import current_caller
from tollgate.llm_proxy.catalog.service import Catalog, Model
from tollgate.llm_proxy.completions.calls import Call
from tollgate.llm_proxy.completions.feature import feature_of
from tollgate.llm_proxy.completions.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    parse_request,
)
from tollgate.llm_proxy.completions.service import CompletionService
from tollgate.llm_proxy.config import Settings
from tollgate.llm_proxy.deps import catalog_of, completions_of, settings_of
from tollgate.llm_proxy.errors import InvalidRequest, ModelNotAllowed, ModelNotFound
from tollgate.llm_proxy.metering.tokens import counter_for
from tollgate.llm_proxy.openapi import ChatCompletion, Completion, EmbeddingList
from tollgate.shared.direct_routes import DirectRoute
from tollgate.shared.errors import PayloadTooLarge
from tollgate.shared.inputs import check_json
from tollgate.shared.logs import request_id_var
from tollgate.shared.security import Principal

__all__ = ["OPENAI_PREFIXES", "ROUTES"]

TAGS = ("completions",)
OPENAI_PREFIXES = ("/v1", "/api/llm")
# Bad or unknown parameters, no tokens left, a model outside the plan or unknown, a body
# too large, every provider rate-limiting or down, usage out of reach.
RAISES = (400, 402, 403, 404, 413, 429, 502, 503)
# OpenAI's own default for the legacy completions endpoint; the hold is sized to it.
LEGACY_DEFAULT_MAX_TOKENS = 16


async def _json_body(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
    raw = await request.body()
    if len(raw) > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON") from None
    # orjson refuses NaN itself; NUL characters and deep nesting (tool schemas 300
    # levels deep) are refused here as for every other route.
    check_json(body)
    return body


async def _context(request: Request) -> tuple[Principal, Catalog, CompletionService, Settings]:
    """The caller, and what the lifespan built for these routes."""
    return (
        await current_caller(request),
        await catalog_of(request),
        await completions_of(request),
        await settings_of(request),
    )


def _model_for(catalog: Catalog, model_id: str, principal: Principal, endpoint: str) -> Model:
    model = catalog.get(model_id)
    if model is None:
        raise ModelNotFound(f"The model '{model_id}' does not exist", param="model")
    if not catalog.allows(model, principal.plan):
        raise ModelNotAllowed(
            f"The model '{model_id}' is not included in the {principal.plan or 'free'} plan",
            param="model",
        )
    if not model.serves(endpoint):
        raise InvalidRequest(f"The model '{model_id}' does not support {endpoint}", param="model")
    return model


def _check_budget(model: Model, prompt_tokens: int, max_tokens: int | None) -> None:
    if max_tokens is not None and max_tokens > model.spec.max_output_tokens:
        raise InvalidRequest(
            f"max_tokens is too large: {max_tokens}. This model supports at most "
            f"{model.spec.max_output_tokens} completion tokens",
            param="max_tokens",
        )
    if prompt_tokens + (max_tokens or 1) > model.spec.context_window:
        raise InvalidRequest(
            f"This model's maximum context length is {model.spec.context_window} tokens; "
            f"the request needs {prompt_tokens} for the prompt"
            + (f" and {max_tokens} for the completion" if max_tokens else ""),
            code="context_length_exceeded",
            param="messages",
        )


def _call(
    request: Request,
    principal: Principal,
    endpoint: str,
    model: Model,
    body: dict[str, Any],
    prompt_tokens: int,
    *,
    stream: bool,
    wants_usage: bool,
    store_content: bool,
    prompt_text: Any,
) -> Call:
    return Call(
        principal=principal,
        endpoint=endpoint,
        model=model,
        body=body,
        stream=stream,
        client_wants_usage=wants_usage,
        prompt_tokens=prompt_tokens,
        http_request_id=request_id_var.get(),
        prompt_text=orjson.dumps(prompt_text).decode() if store_content else None,
        feature=feature_of(request.headers, body),
    )


async def chat_completions(request: Request) -> Response:
    """Create a chat completion, streamed or not, paid from the caller's token balance."""
    principal, catalog, service, settings = await _context(request)
    body = await _json_body(request, settings.max_body_bytes)
    parsed = parse_request(ChatCompletionRequest, body)
    model = _model_for(catalog, parsed.model, principal, "chat")
    requested = parsed.requested_max_tokens
    prompt_tokens = counter_for(model.spec.tokenizer).count_messages(
        body["messages"], body.get("tools")
    )
    _check_budget(model, prompt_tokens, requested)
    wants_usage = bool(parsed.stream_options and parsed.stream_options.include_usage)
    call = _call(
        request, principal, "chat", model, body, prompt_tokens,
        stream=parsed.stream, wants_usage=wants_usage,
        store_content=settings.store_content, prompt_text=body["messages"],
    )  # fmt: skip
    response: Response = await service.run(call, requested)
    return response


async def completions(request: Request) -> Response:
    """Create a (legacy) text completion, paid from the caller's token balance."""
    principal, catalog, service, settings = await _context(request)
    body = await _json_body(request, settings.max_body_bytes)
    parsed = parse_request(CompletionRequest, body)
    model = _model_for(catalog, parsed.model, principal, "completions")
    requested = parsed.max_tokens or LEGACY_DEFAULT_MAX_TOKENS
    body["max_tokens"] = requested
    counter = counter_for(model.spec.tokenizer)
    prompts = [parsed.prompt] if isinstance(parsed.prompt, str) else parsed.prompt
    prompt_tokens = sum(counter.count(p) for p in prompts)
    _check_budget(model, prompt_tokens, requested)
    wants_usage = bool(parsed.stream_options and parsed.stream_options.include_usage)
    call = _call(
        request, principal, "completions", model, body, prompt_tokens,
        stream=parsed.stream, wants_usage=wants_usage,
        store_content=settings.store_content, prompt_text=body["prompt"],
    )  # fmt: skip
    response: Response = await service.run(call, requested)
    return response


async def embeddings(request: Request) -> Response:
    """Create embeddings, paid from the caller's token balance (input tokens only)."""
    principal, catalog, service, settings = await _context(request)
    body = await _json_body(request, settings.max_body_bytes)
    parsed = parse_request(EmbeddingRequest, body)
    model = _model_for(catalog, parsed.model, principal, "embeddings")
    counter = counter_for(model.spec.tokenizer)
    items = [parsed.input] if isinstance(parsed.input, str) else parsed.input
    prompt_tokens = 0
    for item in items:
        if isinstance(item, str):
            prompt_tokens += counter.count(item)
        elif isinstance(item, list):
            prompt_tokens += len(item)
        else:
            prompt_tokens += 1
    if prompt_tokens > model.spec.context_window * max(1, len(items)):
        raise InvalidRequest("The input is longer than this model accepts", param="input")
    call = _call(
        request, principal, "embeddings", model, body, prompt_tokens,
        stream=False, wants_usage=False,
        store_content=settings.store_content, prompt_text=body["input"],
    )  # fmt: skip
    response: Response = await service.run(call, 0)
    return response


def _routes(prefix: str) -> list[DirectRoute]:
    served = (
        ("/chat/completions", chat_completions, ChatCompletionRequest, ChatCompletion),
        ("/completions", completions, CompletionRequest, Completion),
        ("/embeddings", embeddings, EmbeddingRequest, EmbeddingList),
    )
    return [
        DirectRoute(
            "POST",
            prefix + path,
            handler,
            body=body,
            answer=answer,
            tags=TAGS,
            raises=RAISES,
            uses=(current_caller,),
        )
        for path, handler, body, answer in served
    ]


# Served ahead of the FastAPI frame (``shared.direct_routes``): the proxy's hottest routes.
ROUTES = [route for prefix in OPENAI_PREFIXES for route in _routes(prefix)]
