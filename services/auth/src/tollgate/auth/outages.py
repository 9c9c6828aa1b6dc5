"""A dependency that does not answer is a 503 with Retry-After, never a bare 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from sqlalchemy.exc import InterfaceError, OperationalError

from tollgate.shared.errors import problem_response

log = logging.getLogger("tollgate.auth.outages")

UNAVAILABLE = (OperationalError, InterfaceError, RedisError, ConnectionError, TimeoutError)


def install_outage_handlers(app: FastAPI) -> None:
    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("%s %s: dependency unavailable: %r", request.method, request.url.path, exc)
        return problem_response(
            503,
            "unavailable",
            "Service unavailable",
            "A service auth depends on is not answering; try again shortly",
            request.url.path,
            headers={"Retry-After": "5"},
        )

    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, unavailable)
