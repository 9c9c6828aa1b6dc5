"""The gateway's errors, rendered as problem+json, or in OpenAI's shape on the OpenAI routes.

The OpenAI routes (``/v1``, ``/api/llm``) and their words are the shared contract's
(``tollgate.shared.openai_errors``), so the gateway and the LLM proxy answer alike.

The classes are the shared library's (``TollgateError`` and kin) plus the two a
proxy needs: 502 (the service cannot be reached) and 504 (it did not answer in time).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tollgate.shared.errors import (
    OUTAGE_RETRY_AFTER_SECONDS,
    PROBLEM_BASE,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TollgateError,
    TooManyRequests,
    Unauthorized,
)
from tollgate.shared.openai_errors import openai_shaped, render_openai_error

__all__ = [
    "BadGateway",
    "Forbidden",
    "GatewayTimeout",
    "NotFound",
    "PayloadTooLarge",
    "ServiceUnavailable",
    "TollgateError",
    "TooManyRequests",
    "Unauthorized",
    "error_response",
]


class BadGateway(TollgateError):
    """The service could not be reached: an outage, with the one outage ``Retry-After``."""

    status_code, type_slug, title = 502, "bad-gateway", "Service unreachable"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)})
        super().__init__(detail, **kw)


class GatewayTimeout(TollgateError):
    status_code, type_slug, title = 504, "gateway-timeout", "Service did not answer in time"


def error_response(
    path: str, error: TollgateError, headers: dict[str, str] | None = None
) -> web.Response:
    merged = {**error.headers, **(headers or {})}
    if openai_shaped(path):
        return web.Response(
            status=error.status_code,
            body=render_openai_error(error),
            content_type="application/json",
            headers=merged,
        )
    body = {
        "type": PROBLEM_BASE + error.type_slug,
        "title": error.title,
        "status": error.status_code,
        "detail": error.detail,
        "instance": path,
        **error.extra,
    }
    return web.Response(
        status=error.status_code,
        body=json.dumps(body).encode(),
        content_type="application/problem+json",
        headers=merged,
    )
