"""The completion routes served straight from ASGI, ahead of the FastAPI frame.

Every proxied call used to pass about a dozen layers before reaching its handler;
measured with py-spy under load, that frame cost about a quarter of the proxy's CPU
per call, more than the handler's own work, and every streamed chunk also went
through each layer's ``send`` wrapper. ``shared.direct_routes`` answers these routes
in front of the stack (request id, metrics, trace context kept); this module gives it
the proxy's handlers, with the caller they need, and OpenAI's error shape. The FastAPI
routes stay in place for the OpenAPI document, so a call behaves the same either way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from tollgate.llm_proxy.callers import calling_user
from tollgate.llm_proxy.errors import openai_response
from tollgate.shared.direct_routes import DirectHandler, serve_directly
from tollgate.shared.errors import TollgateError
from tollgate.shared.security import Principal

__all__ = ["RouteHandler", "serve_completions_directly"]

log = logging.getLogger("tollgate.llm_proxy.routes")

# A completion route's handler, with what FastAPI would have resolved for it.
RouteHandler = Callable[[Request, Principal, Any], Awaitable[Response]]


def openai_error(exc: TollgateError, path: str) -> Response:
    if exc.status_code >= 500:
        log.warning("POST %s: %s", path, exc.detail)
    return openai_response(exc)


def _with_caller(handler: RouteHandler) -> DirectHandler:
    async def serve(request: Request) -> Response:
        state = request.app.state
        return await handler(request, await calling_user(state.verified_tokens, request), state)

    return serve


def serve_completions_directly(
    app: FastAPI, handlers: dict[str, RouteHandler], prefixes: tuple[str, ...], *, service: str,
    traced: bool,
) -> None:  # fmt: skip
    routes = {
        ("POST", prefix + path): _with_caller(handler)
        for prefix in prefixes
        for path, handler in handlers.items()
    }
    serve_directly(app, routes, service=service, traced=traced, render_error=openai_error)
