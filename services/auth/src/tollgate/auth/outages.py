"""Errors of the database or Redis, answered as what they mean to the caller, never a bare 500.

unreachable (connection refused, timed out, Redis down)   503 with Retry-After
text PostgreSQL cannot store (a NUL byte in a form field)  422
"""

from __future__ import annotations

import logging

from asyncpg.exceptions import DataError as PgDataError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from tollgate.shared.errors import OUTAGE_RETRY_AFTER_SECONDS, problem_response

log = logging.getLogger("tollgate.auth.outages")

UNAVAILABLE = (OperationalError, InterfaceError, RedisError, ConnectionError, TimeoutError)


def caused_by_bad_data(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(5):  # DBAPIError -> the driver adapter's error -> asyncpg's
        if seen is None:
            return False
        if isinstance(seen, PgDataError):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def install_outage_handlers(app: FastAPI) -> None:
    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("%s %s: dependency unavailable: %r", request.method, request.url.path, exc)
        return problem_response(
            503,
            "unavailable",
            "Service unavailable",
            "A service auth depends on is not answering; try again shortly",
            request.url.path,
            headers={"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)},
        )

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        if not caused_by_bad_data(exc):
            raise exc  # a bug of ours: the generic handler logs it and answers 500
        return problem_response(
            422,
            "validation-error",
            "Invalid request",
            "The request contains characters that cannot be stored",
            request.url.path,
        )

    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, unavailable)
    app.add_exception_handler(DBAPIError, database_error)
