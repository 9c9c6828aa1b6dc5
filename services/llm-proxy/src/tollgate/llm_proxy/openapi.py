"""Request bodies of the OpenAI routes in the OpenAPI document.

The routes read their JSON themselves (to answer in OpenAI's error shape and to
forward the caller's own fields), so FastAPI cannot see their body models; the
schemas are added here instead, so ``/docs`` shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from tollgate.llm_proxy.completions.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
)

__all__ = ["body_of", "describe_request_bodies"]

REF = "#/components/schemas/{model}"
MODELS: tuple[type[BaseModel], ...] = (ChatCompletionRequest, CompletionRequest, EmbeddingRequest)


def body_of(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route whose JSON body follows ``model``."""
    schema = {"$ref": REF.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def describe_request_bodies(app: FastAPI) -> None:
    default: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = default()
        _, definitions = models_json_schema([(m, "validation") for m in MODELS], ref_template=REF)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(definitions.get("$defs", {}))
        return document

    app.openapi = openapi  # type: ignore[method-assign]
