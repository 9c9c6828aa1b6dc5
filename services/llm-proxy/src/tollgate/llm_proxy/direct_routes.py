"""The completion routes served straight from ASGI, ahead of the FastAPI frame.

Every proxied call used to pass about a dozen layers before reaching its handler:
the OpenTelemetry ASGI middleware, FastAPI's own telemetry, body limit, exception
and exit-stack layers, the request-id and Prometheus middlewares, routing and
dependency resolution. Measured with py-spy under load, that frame cost about a
quarter of the proxy's CPU per call, more than the handler's own work; every
streamed chunk also went through each layer's ``send`` wrapper.

``DirectRoutes`` sits in front of that stack and answers ``POST`` to the
completion paths itself, doing only what those layers did that matters here:
the caller's ``X-Request-ID`` (or a new one) on the response and in the logs, the
shared HTTP series in ``/metrics``, the caller's trace context (and a server span
when traces are exported), OpenAI-shaped errors. It calls the very handlers the
FastAPI routes declare (which stay in place for the OpenAPI document), so a call
behaves the same either way. Anything else goes down the ordinary stack.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import Request
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from starlette.responses import Response

from tollgate.llm_proxy.callers import VerifiedTokens
from tollgate.llm_proxy.errors import ProxyError, openai_response
from tollgate.shared.errors import TollgateError
from tollgate.shared.logs import request_id_var
from tollgate.shared.security import Principal
from tollgate.shared.telemetry import LATENCY, REQUESTS

__all__ = ["ASGIApp", "DirectRoutes", "RouteHandler"]

log = logging.getLogger("tollgate.llm_proxy.routes")
tracer = trace.get_tracer("tollgate.llm_proxy")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]
# A completion route's handler, with what FastAPI would have resolved for it.
RouteHandler = Callable[[Request, Principal, Any], Awaitable[Response]]

# The same rule as the shared request-id middleware: a caller's id is kept if well formed.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class DirectRoutes:
    def __init__(
        self,
        app: ASGIApp,
        routes: dict[str, RouteHandler],
        *,
        service: str,
        traced: bool,
    ) -> None:
        self.app = app
        self.routes = routes
        self.service = service
        # Spans only when they are exported; the caller's trace context is kept either way.
        self.traced = traced

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        handler = None
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.routes.get(scope["path"])
        if handler is None:
            await self.app(scope, receive, send)
            return
        await self._serve(handler, scope, receive, send)

    async def _serve(self, handler: RouteHandler, scope: Scope, receive: Any, send: Any) -> None:
        start = time.perf_counter()
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
            tracer.start_span(f"POST {path}", kind=trace.SpanKind.SERVER) if self.traced else None
        )
        span_token = otel_context.attach(trace.set_span_in_context(span)) if span else None

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", raw_id)]
                LATENCY.labels(self.service, "POST", path).observe(time.perf_counter() - start)
                REQUESTS.labels(self.service, "POST", path, str(status)).inc()
                if span is not None:
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(trace.StatusCode.ERROR)
            await send(message)

        try:
            request = Request(scope, receive)
            response = await self._answer(handler, request)
            await response(scope, receive, send_with_id)
        finally:
            if span_token is not None:
                otel_context.detach(span_token)
            if span is not None:
                span.set_attribute("http.route", path)
                span.end()
            otel_context.detach(trace_token)
            request_id_var.reset(id_token)

    async def _answer(self, handler: RouteHandler, request: Request) -> Response:
        state = request.app.state
        try:
            tokens: VerifiedTokens = state.verified_tokens
            principal = await tokens.user(request)
            return await handler(request, principal, state)
        except TollgateError as exc:
            if exc.status_code >= 500:
                log.warning("POST %s: %s", request.url.path, exc.detail)
            return openai_response(exc)
        except Exception:
            # A bug of ours: the caller still gets an OpenAI-shaped error, the log the trace.
            log.exception("unexpected error on POST %s", request.url.path)
            return openai_response(ProxyError("An unexpected error occurred"))
