"""The gateway's errors, rendered as problem+json, or in OpenAI's shape on ``/v1``.

The classes are the shared library's (``TollgateError`` and kin) plus the two a
proxy needs: 502 (the service cannot be reached) and 504 (it did not answer in time).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tollgate.shared.errors import (
    PROBLEM_BASE,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TollgateError,
    TooManyRequests,
    Unauthorized,
)

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
    status_code, type_slug, title = 502, "bad-gateway", "Service unreachable"


class GatewayTimeout(TollgateError):
    status_code, type_slug, title = 504, "gateway-timeout", "Service did not answer in time"


# OpenAI's error "type" per status, so the openai SDK raises the matching exception.
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_exceeded",
}


def _openai_shaped(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


def error_response(
    path: str, error: TollgateError, headers: dict[str, str] | None = None
) -> web.Response:
    merged = {**error.headers, **(headers or {})}
    body: dict[str, Any]
    if _openai_shaped(path):
        code = error.type_slug.replace("-", "_")
        body = {
            "error": {
                "message": error.detail,
                "type": _OPENAI_TYPES.get(error.status_code, "api_error"),
                "code": code,
                "param": None,
            }
        }
        content_type = "application/json"
    else:
        body = {
            "type": PROBLEM_BASE + error.type_slug,
            "title": error.title,
            "status": error.status_code,
            "detail": error.detail,
            "instance": path,
            **error.extra,
        }
        content_type = "application/problem+json"
    return web.Response(
        status=error.status_code,
        body=json.dumps(body).encode(),
        content_type=content_type,
        headers=merged,
    )
