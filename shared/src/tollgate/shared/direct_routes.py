"""Hot routes served straight from ASGI, ahead of the FastAPI frame.

A route that a service answers thousands of times a second pays, in front of its
handler, about a dozen layers: FastAPI's own telemetry, body limit, exception and
exit-stack layers, the request-id, trace and Prometheus middlewares, routing and
dependency resolution. Measured with py-spy under load that frame costs more CPU
than the handler's own work. ``DirectRoutes`` sits in front of the stack and
answers the routes it is given itself, doing only what those layers did that
matters: the caller's ``X-Request-ID`` (or a new one) on the answer and in the
logs, the shared HTTP series in ``/metrics``, the caller's trace context (and a
server span when traces are exported), problem+json errors. The FastAPI routes
stay declared, for the OpenAPI document; anything else goes down the stack.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from tollgate.shared.errors import (
    PayloadTooLarge,
    TollgateError,
    dependency_unreachable,
    error_problem,
    unreachable,
    validation_problem,
)
from tollgate.shared.inputs import check_json_body
from tollgate.shared.logs import request_id_var
from tollgate.shared.telemetry import LATENCY, REQUESTS

__all__ = ["DirectHandler", "DirectRoutes", "ErrorRenderer", "read_body", "serve_directly"]

log = logging.getLogger("tollgate.direct_routes")
tracer = trace.get_tracer("tollgate.direct_routes")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]
DirectHandler = Callable[[Request], Awaitable[Response]]
# How a service words an error: problem+json by default (llm-proxy: OpenAI's shape).
ErrorRenderer = Callable[[TollgateError, str], Response]
M = TypeVar("M", bound=BaseModel)

# The same rule as the shared request-id middleware: a caller's id is kept if well formed.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


async def read_body(request: Request, model: type[M], limit: int) -> M:
    """The JSON body as ``model``: 413 over ``limit`` bytes, 422 as FastAPI words it, and
    what ``InputGuard`` refuses for FastAPI's routes refused here too."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
    check_json_body(body)
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from exc


class DirectRoutes:
    def __init__(
        self,
        app: ASGIApp,
        routes: dict[tuple[str, str], DirectHandler],
        *,
        service: str,
        traced: bool,
        render_error: ErrorRenderer = error_problem,
    ) -> None:
        self.app = app
        self.routes = routes
        self.service = service
        self.render_error = render_error
        # Spans only when they are exported; the caller's trace context is kept either way.
        self.traced = traced

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        handler = None
        if scope["type"] == "http":
            handler = self.routes.get((scope["method"], scope["path"]))
        if handler is None:
            await self.app(scope, receive, send)
            return
        await self._serve(handler, scope, receive, send)

    async def _serve(self, handler: DirectHandler, scope: Scope, receive: Any, send: Any) -> None:
        start = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name in (b"x-request-id", b"traceparent", b"tracestate"):
                headers.setdefault(name.decode(), value.decode("latin-1"))
        candidate = headers.get("x-request-id")
        request_id = (
            candidate if candidate and _SAFE_REQUEST_ID.match(candidate) else uuid.uuid4().hex
        )
        raw_id = request_id.encode()
        id_token = request_id_var.set(request_id)
        trace_token = otel_context.attach(propagate.extract(headers))
        span = (
            tracer.start_span(f"{method} {path}", kind=trace.SpanKind.SERVER)
            if self.traced
            else None
        )
        span_token = otel_context.attach(trace.set_span_in_context(span)) if span else None

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", raw_id)]
                LATENCY.labels(self.service, method, path).observe(time.perf_counter() - start)
                REQUESTS.labels(self.service, method, path, str(status)).inc()
                if span is not None:
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(trace.StatusCode.ERROR)
            await send(message)

        try:
            response = await self._answer(handler, Request(scope, receive), path)
            await response(scope, receive, send_with_id)
        finally:
            if span_token is not None:
                otel_context.detach(span_token)
            if span is not None:
                span.set_attribute("http.route", path)
                span.end()
            otel_context.detach(trace_token)
            request_id_var.reset(id_token)

    async def _answer(self, handler: DirectHandler, request: Request, path: str) -> Response:
        try:
            return await handler(request)
        except TollgateError as exc:
            return self.render_error(exc, path)
        except RequestValidationError as exc:
            return validation_problem(exc.errors(), path)
        except Exception as exc:
            if dependency_unreachable(exc):
                log.warning("dependency unreachable on %s %s: %s", request.method, path, exc)
                return self.render_error(unreachable(), path)
            # A bug of ours: the caller still gets a well-formed error, the log the trace.
            log.exception("unexpected error on %s %s", request.method, path)
            return self.render_error(TollgateError("An unexpected error occurred"), path)


def serve_directly(
    app: FastAPI,
    routes: dict[tuple[str, str], DirectHandler],
    *,
    service: str,
    traced: bool,
    render_error: ErrorRenderer = error_problem,
) -> None:
    """Put ``DirectRoutes`` in front of the whole middleware stack, once Starlette builds it."""
    build_stack = app.build_middleware_stack

    def build() -> ASGIApp:
        return DirectRoutes(
            build_stack(), routes, service=service, traced=traced, render_error=render_error
        )

    app.build_middleware_stack = build  # type: ignore[method-assign]
