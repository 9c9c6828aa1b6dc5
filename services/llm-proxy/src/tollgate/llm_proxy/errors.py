"""Errors on the OpenAI-compatible routes, in OpenAI's shape.

``/v1/*`` and ``/api/llm/*`` answer ``{"error": {"message", "type", "code"}}`` so
OpenAI clients understand them; every other route keeps problem+json. The same
``TollgateError`` hierarchy is raised everywhere, and the path decides the shape.

    TollgateError (shared)
    └── ProxyError              carries OpenAI's ``type`` and ``code``
        ├── InvalidRequest      400 invalid_request_error
        ├── ModelNotFound       404 model_not_found
        ├── ModelNotAllowed     403 model_not_in_plan
        ├── InsufficientQuota   402 insufficient_quota
        ├── SpendingRefused     403 usage refused this caller a hold (a sub-user without llm)
        ├── MeteringUnavailable 503 usage cannot be asked
        │   └── HoldAnswerLost      503 usage may have made the hold, its answer was lost
        ├── UpstreamRejected    400 the provider refused the request itself
        ├── UpstreamRateLimited 429 every deployment is rate-limiting
        └── UpstreamUnavailable 502/503 every deployment failed
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from tollgate.shared.errors import TollgateError

__all__ = [
    "OPENAI_PREFIXES",
    "HoldAnswerLost",
    "InsufficientQuota",
    "InvalidRequest",
    "MeteringUnavailable",
    "ModelNotAllowed",
    "ModelNotFound",
    "ProxyError",
    "SpendingRefused",
    "UpstreamRateLimited",
    "UpstreamRejected",
    "UpstreamUnavailable",
    "install_openai_errors",
    "openai_error_body",
    "openai_response",
]

OPENAI_PREFIXES = ("/v1/", "/api/llm/")

# OpenAI's error type for each status, when the raiser did not choose one.
_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class ProxyError(TollgateError):
    openai_type = "api_error"
    code: str | None = None

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        param: str | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail, extra=extra, headers=headers)
        if code is not None:
            self.code = code
        self.param = param


class InvalidRequest(ProxyError):
    status_code, type_slug, title = 400, "invalid-request", "Invalid request"
    openai_type, code = "invalid_request_error", "invalid_request"


class ModelNotFound(ProxyError):
    status_code, type_slug, title = 404, "model-not-found", "Model not found"
    openai_type, code = "invalid_request_error", "model_not_found"


class ModelNotAllowed(ProxyError):
    status_code, type_slug, title = 403, "model-not-in-plan", "Model not in your plan"
    openai_type, code = "permission_error", "model_not_in_plan"


class InsufficientQuota(ProxyError):
    status_code, type_slug, title = 402, "insufficient-quota", "Not enough tokens"
    openai_type, code = "insufficient_quota", "insufficient_quota"


class SpendingRefused(ProxyError):
    """Usage refused the caller any hold: not a matter of tokens, so never a 402."""

    status_code, type_slug, title = 403, "spending-refused", "Not allowed to spend"
    openai_type, code = "permission_error", "spending_refused"


class UpstreamRateLimited(ProxyError):
    status_code, type_slug, title = 429, "upstream-rate-limited", "Upstream rate limit"
    openai_type, code = "rate_limit_error", "upstream_rate_limited"


class UpstreamUnavailable(ProxyError):
    status_code, type_slug, title = 502, "upstream-unavailable", "Upstream unavailable"
    openai_type, code = "api_error", "upstream_unavailable"


class MeteringUnavailable(ProxyError):
    status_code, type_slug, title = 503, "metering-unavailable", "Metering unavailable"
    openai_type, code = "api_error", "metering_unavailable"


class HoldAnswerLost(MeteringUnavailable):
    """The reservation request may have reached usage, but no answer came back.

    Usage may now hold tokens for the call's ``request_id`` without our knowing the
    reservation; the call is recorded as a 0-token failure so usage can settle it.
    """


class UpstreamRejected(ProxyError):
    """The provider refused the request itself (a 400-class answer): the caller must change it."""

    status_code, type_slug, title = 400, "upstream-rejected", "Rejected by the provider"
    openai_type, code = "invalid_request_error", "upstream_rejected"


def openai_error_body(
    message: str, type_: str, code: str | None, param: str | None = None
) -> bytes:
    return orjson.dumps(
        {"error": {"message": message, "type": type_, "param": param, "code": code}}
    )


def openai_response(exc: TollgateError) -> Response:
    if isinstance(exc, ProxyError):
        type_, code, param = exc.openai_type, exc.code, exc.param
    else:
        type_ = _TYPE_BY_STATUS.get(exc.status_code, "api_error")
        code, param = exc.type_slug.replace("-", "_"), None
    body = openai_error_body(exc.detail, type_, code, param)
    return Response(body, exc.status_code, dict(exc.headers), media_type="application/json")


Handler = Callable[[Request, Any], Awaitable[Response]]


def install_openai_errors(app: FastAPI) -> None:
    """Answer in OpenAI's shape on the OpenAI routes; problem+json stays everywhere else."""

    def dispatch(cls: type[BaseException] | int, to_error: Callable[[Any], TollgateError]) -> None:
        fallback = cast(Handler, app.exception_handlers[cls])

        async def handler(request: Request, exc: Any) -> Response:
            if request.url.path.startswith(OPENAI_PREFIXES):
                return openai_response(to_error(exc))
            return await fallback(request, exc)

        app.exception_handlers[cls] = handler

    dispatch(TollgateError, lambda exc: exc)
    dispatch(RequestValidationError, _from_validation)
    dispatch(StarletteHTTPException, _from_http)
    dispatch(Exception, lambda _exc: ProxyError("An unexpected error occurred"))


def _from_validation(exc: RequestValidationError) -> TollgateError:
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
    return InvalidRequest(f"{where}: {first.get('msg', 'invalid')}", param=where)


def _from_http(exc: StarletteHTTPException) -> TollgateError:
    detail = "Unknown route" if exc.status_code == 404 else str(exc.detail)
    error = ProxyError(detail, code=_TYPE_BY_STATUS.get(exc.status_code) and "http_error")
    error.status_code = exc.status_code
    error.openai_type = _TYPE_BY_STATUS.get(exc.status_code, "api_error")
    error.headers = dict(exc.headers or {})
    return error
