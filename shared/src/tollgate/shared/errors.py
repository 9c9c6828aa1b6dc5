"""One exception base for the services, rendered as RFC 9457 problem+json.

TollgateError                  500 unless a subclass says otherwise
├── BadRequest                 400
├── Unauthorized               401
├── PaymentRequired            402
├── Forbidden                  403
├── NotFound                   404
├── MethodNotAllowed           405
├── Conflict                   409
├── PayloadTooLarge            413
├── UnprocessableEntity        422
├── TooManyRequests            429  (carries retry_after)
└── ServiceUnavailable         503  (carries Retry-After: OUTAGE_RETRY_AFTER_SECONDS)

One ``Retry-After`` for every outage, on every service and the gateway: five seconds.
What is out of reach is a PostgreSQL, a broker or a service restarting, which takes
seconds; asking every client back after one second multiplies the load on whatever
is recovering, and a longer wait would keep callers away after it is back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import asyncpg
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "OUTAGE_RETRY_AFTER_SECONDS",
    "PROBLEM_BASE",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "PaymentRequired",
    "ServiceUnavailable",
    "TollgateError",
    "TooManyRequests",
    "Unauthorized",
    "UnprocessableEntity",
    "dependency_unreachable",
    "error_problem",
    "install_problem_handlers",
    "problem_response",
    "unexpected_error",
    "unexpected_problem",
    "unreachable",
    "validation_problem",
]

PROBLEM_BASE = "https://tollgate.dev/problems/"
PROBLEM_JSON = "application/problem+json"
OUTAGE_RETRY_AFTER_SECONDS = 5

log = logging.getLogger("tollgate.errors")


class TollgateError(Exception):
    """An error a caller can act on; its class decides the status and the problem type."""

    status_code = 500
    type_slug = "internal"
    title = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        type_slug: str | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if type_slug:
            self.type_slug = type_slug
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})


class BadRequest(TollgateError):
    status_code, type_slug, title = 400, "bad-request", "Bad request"


class Unauthorized(TollgateError):
    status_code, type_slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class PaymentRequired(TollgateError):
    status_code, type_slug, title = 402, "insufficient-quota", "Not enough tokens"


class Forbidden(TollgateError):
    status_code, type_slug, title = 403, "forbidden", "Not allowed"


class NotFound(TollgateError):
    status_code, type_slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(TollgateError):
    status_code, type_slug, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(TollgateError):
    status_code, type_slug, title = 409, "conflict", "Conflict"


class PayloadTooLarge(TollgateError):
    status_code, type_slug, title = 413, "payload-too-large", "Request body too large"


class UnprocessableEntity(TollgateError):
    status_code, type_slug, title = 422, "validation-error", "Invalid request"


class TooManyRequests(TollgateError):
    status_code, type_slug, title = 429, "rate-limited", "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": str(max(1, retry_after))})
        super().__init__(detail, **kw)
        self.retry_after = retry_after


class ServiceUnavailable(TollgateError):
    status_code, type_slug, title = 503, "unavailable", "Service unavailable"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)})
        super().__init__(detail, **kw)


# What a restart or a cut of the database or the broker raises: worth a retry, not a bug.
_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable; aiormq's connection errors are ConnectionErrors
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, not accepting connections yet
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
)


def dependency_unreachable(exc: BaseException) -> bool:
    """Did this fail because the database or the broker could not be reached?"""
    seen: BaseException | None = exc
    for _ in range(8):  # the cause chain: SQLAlchemy wraps the driver's error
        if seen is None:
            return False
        if isinstance(seen, _UNREACHABLE) or (
            isinstance(seen, sqlalchemy.exc.DBAPIError) and seen.connection_invalidated
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def unreachable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "A database or broker this service needs is unreachable; try again shortly"
    )


def unexpected_error(exc: BaseException, where: str) -> TollgateError:
    """A bug of ours (500), or a dependency out of reach (503 with Retry-After), logged."""
    if dependency_unreachable(exc):
        log.warning("dependency unreachable on %s: %s", where, exc)
        return unreachable()
    log.error("unhandled error on %s", where, exc_info=exc)
    return TollgateError("An unexpected error occurred")


def unexpected_problem(exc: BaseException, path: str) -> JSONResponse:
    """The problem+json answer for an exception none of our handlers expected."""
    error = unexpected_error(exc, path)
    return problem_response(
        error.status_code, error.type_slug, error.title, error.detail, path, headers=error.headers
    )


def problem_response(
    status: int,
    type_slug: str,
    title: str,
    detail: str,
    instance: str | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + type_slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _jsonable_errors(errors: Any) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        out.append(
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return out


def error_problem(exc: TollgateError, path: str) -> JSONResponse:
    """The problem+json answer for one of our errors."""
    if exc.status_code >= 500:
        log.error("request failed: %s", exc.detail)
    return problem_response(
        exc.status_code, exc.type_slug, exc.title, exc.detail, path, exc.extra, exc.headers
    )


def validation_problem(raw_errors: Any, path: str) -> JSONResponse:
    """422 for a request that does not validate, naming the first field at fault."""
    errors = _jsonable_errors(raw_errors)
    first = errors[0] if errors else {"loc": [], "msg": "invalid"}
    where = ".".join(p for p in first["loc"] if p != "body") or "request"
    return problem_response(
        422,
        "validation-error",
        "Invalid request",
        f"{where}: {first['msg']}",
        path,
        {"errors": errors},
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error as problem+json, so no caller ever sees an HTML page or a bare 500."""

    @app.exception_handler(TollgateError)
    async def _tollgate(request: Request, exc: TollgateError) -> JSONResponse:
        return error_problem(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_problem(exc.errors(), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed", 401: "unauthorized"}.get(
            exc.status_code, "http-error"
        )
        return problem_response(
            exc.status_code,
            slug,
            str(exc.detail) if exc.status_code != 404 else "Not found",
            str(exc.detail),
            request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return unexpected_problem(exc, request.url.path)
