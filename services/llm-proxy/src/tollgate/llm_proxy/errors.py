"""Errors on the OpenAI-compatible routes, in OpenAI's shape.

``/v1/*`` and ``/api/llm/*`` answer ``{"error": {"message", "type", "code"}}`` so
OpenAI clients understand them; every other route keeps problem+json. The same
``TollgateError`` hierarchy is raised everywhere, and the path decides the shape.
The ``type`` for each status, and the default codes, are the shared contract's
(``tollgate.shared.openai_errors``), the same the gateway answers with.

    TollgateError (shared)
    └── ProxyError              carries OpenAI's ``code`` (and ``param``)
        ├── InvalidRequest      400 invalid_request
        ├── ModelNotFound       404 model_not_found
        ├── ModelNotAllowed     403 model_not_in_plan
        ├── ModelNotPriced      400 model_not_priced: usage has no price for it, so no hold
        ├── InsufficientQuota   402 insufficient_quota, with where to get more credits
        ├── SpendingRefused     403 usage refused this caller a hold (a sub-user without llm)
        ├── UsageRateLimited    429 rate_limit_exceeded: usage's daily quota or tokens per minute
        ├── MeteringUnavailable 503 usage cannot be asked
        │   └── HoldAnswerLost      503 usage may have made the hold, its answer was lost
        ├── UpstreamRejected    400 the provider refused the request itself
        ├── UpstreamRateLimited 429 every deployment is rate-limiting
        └── UpstreamUnavailable 502/503 every deployment failed
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from tollgate.shared.errors import OUTAGE_RETRY_AFTER_SECONDS, TollgateError, unexpected_error
from tollgate.shared.openai_errors import openai_shaped, render_openai_error

__all__ = [
    "HoldAnswerLost",
    "InsufficientQuota",
    "InvalidRequest",
    "MeteringUnavailable",
    "ModelNotAllowed",
    "ModelNotFound",
    "ModelNotPriced",
    "ProxyError",
    "RefillLinks",
    "SpendingRefused",
    "UpstreamRateLimited",
    "UpstreamRejected",
    "UpstreamUnavailable",
    "UsageRateLimited",
    "install_openai_errors",
    "openai_response",
]


class ProxyError(TollgateError):
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
    code = "invalid_request"


class ModelNotFound(ProxyError):
    status_code, type_slug, title = 404, "model-not-found", "Model not found"
    code = "model_not_found"


class ModelNotAllowed(ProxyError):
    status_code, type_slug, title = 403, "model-not-in-plan", "Model not in your plan"
    code = "model_not_in_plan"


@dataclass(frozen=True)
class RefillLinks:
    """Where a person gets more credits: the web app's plans page and credit packs page."""

    upgrade_url: str
    top_up_url: str

    @classmethod
    def under(cls, public_url: str) -> RefillLinks:
        base = public_url.rstrip("/")
        return cls(upgrade_url=f"{base}/billing", top_up_url=f"{base}/billing/credits")


class ModelNotPriced(ProxyError):
    """The catalog offers the model but the ledger has no price for it: nothing can be
    charged for a call to it, so none is made (an admin sets its price at usage)."""

    status_code, type_slug, title = 400, "model-not-priced", "Model has no price"
    code = "model_not_priced"


class InsufficientQuota(ProxyError):
    """Out of credits; the message and the body say where to get more."""

    status_code, type_slug, title = 402, "insufficient-quota", "Not enough tokens"
    code = "insufficient_quota"

    def __init__(
        self, detail: str, *, links: RefillLinks, extra: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(
            f"{detail}. Upgrade your plan at {links.upgrade_url} "
            f"or buy credits at {links.top_up_url}",
            extra={
                **(extra or {}),
                "upgrade_url": links.upgrade_url,
                "top_up_url": links.top_up_url,
            },
        )


class UsageRateLimited(ProxyError):
    """Usage refused a hold for a rate (the plan's daily requests or tokens per minute);
    its ``Retry-After`` travels on, and its reason is kept beside OpenAI's code."""

    status_code, type_slug, title = 429, "rate-limited", "Rate limit reached"
    code = "rate_limit_exceeded"


class SpendingRefused(ProxyError):
    """Usage refused the caller any hold: not a matter of tokens, so never a 402."""

    status_code, type_slug, title = 403, "spending-refused", "Not allowed to spend"
    openai_type, code = "permission_error", "spending_refused"


class UpstreamRateLimited(ProxyError):
    status_code, type_slug, title = 429, "upstream-rate-limited", "Upstream rate limit"
    code = "upstream_rate_limited"


class UpstreamUnavailable(ProxyError):
    status_code, type_slug, title = 502, "upstream-unavailable", "Upstream unavailable"
    code = "upstream_unavailable"


class MeteringUnavailable(ProxyError):
    status_code, type_slug, title = 503, "metering-unavailable", "Metering unavailable"
    code = "metering_unavailable"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)})
        super().__init__(detail, **kw)


class HoldAnswerLost(MeteringUnavailable):
    """The reservation request may have reached usage, but no answer came back.

    Usage may now hold tokens for the call's ``request_id`` without our knowing the
    reservation; the call is recorded as a 0-token failure so usage can settle it.
    """


class UpstreamRejected(ProxyError):
    """The provider refused the request itself (a 400-class answer): the caller must change it."""

    status_code, type_slug, title = 400, "upstream-rejected", "Rejected by the provider"
    code = "upstream_rejected"


def openai_response(exc: TollgateError) -> Response:
    return Response(
        render_openai_error(exc), exc.status_code, dict(exc.headers), media_type="application/json"
    )


Handler = Callable[[Request, Any], Awaitable[Response]]


def install_openai_errors(app: FastAPI) -> None:
    """Answer in OpenAI's shape on the OpenAI routes; problem+json stays everywhere else."""

    def dispatch(
        cls: type[BaseException] | int, to_error: Callable[[Any, str], TollgateError]
    ) -> None:
        fallback = cast(Handler, app.exception_handlers[cls])

        async def handler(request: Request, exc: Any) -> Response:
            if openai_shaped(request.url.path):
                return openai_response(to_error(exc, request.url.path))
            return await fallback(request, exc)

        app.exception_handlers[cls] = handler

    dispatch(TollgateError, lambda exc, _path: exc)
    dispatch(RequestValidationError, _from_validation)
    dispatch(StarletteHTTPException, _from_http)
    dispatch(Exception, unexpected_error)


def _from_validation(exc: RequestValidationError, _path: str) -> TollgateError:
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
    return InvalidRequest(f"{where}: {first.get('msg', 'invalid')}", param=where)


def _from_http(exc: StarletteHTTPException, _path: str) -> TollgateError:
    detail = "Unknown route" if exc.status_code == 404 else str(exc.detail)
    error = ProxyError(detail, headers=exc.headers)
    error.status_code = exc.status_code
    return error
