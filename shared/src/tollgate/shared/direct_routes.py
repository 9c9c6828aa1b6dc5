"""Hot routes served straight from ASGI, ahead of the FastAPI frame.

A route that a service answers thousands of times a second pays, in front of its
handler, about a dozen layers: FastAPI's own telemetry, body limit, exception and
exit-stack layers, the request-id, trace and Prometheus middlewares, routing and
dependency resolution. Measured with py-spy under load that frame costs more CPU
than the handler's own work. A ``DirectRoute`` is declared once, with its handler
and what the API document says of it (body, answer, status); ``ServiceApp`` answers
it in front of the stack, doing only what those layers did that matters: the
caller's ``X-Request-ID`` (or a new one) on the answer and in the logs, the shared
HTTP series in ``/metrics``, the caller's trace context (and a server span when
traces are exported), the service's error shape. Anything else goes down the stack.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.responses import Response

from tollgate.shared.errors import (
    MethodNotAllowed,
    PayloadTooLarge,
    TollgateError,
    error_problem,
    unexpected_error,
    validation_problem,
)
from tollgate.shared.inputs import check_json_body
from tollgate.shared.logs import request_id_for, request_id_var
from tollgate.shared.telemetry import LATENCY, REQUESTS

__all__ = [
    "DirectHandler",
    "DirectRoute",
    "DirectRoutes",
    "ErrorRenderer",
    "describe_direct_routes",
    "read_body",
]

log = logging.getLogger("tollgate.direct_routes")
tracer = trace.get_tracer("tollgate.direct_routes")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]
DirectHandler = Callable[[Request], Awaitable[Response]]
# How a service words an error: problem+json by default (llm-proxy: OpenAI's shape).
ErrorRenderer = Callable[[TollgateError, str], Response]
M = TypeVar("M", bound=BaseModel)


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


@dataclass(frozen=True)
class DirectRoute:
    """One route, one handler: what it answers and what the API document says of it.

    The handler's docstring is the operation's summary, as for a FastAPI route.
    ``raises`` are the errors its own logic answers (as ``problems(...)`` on a FastAPI
    route); ``uses`` are the dependencies it calls itself, whose ``raises`` marks add
    their errors and, for one that authenticates, the bearer security
    (``tollgate.shared.openapi``).
    """

    method: str
    path: str
    handler: DirectHandler
    body: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None
    status_code: int = 200
    tags: tuple[str, ...] = ()
    raises: tuple[int, ...] = ()
    uses: tuple[Callable[..., Any], ...] = ()


class DirectRoutes:
    def __init__(
        self,
        app: ASGIApp,
        routes: Sequence[DirectRoute],
        *,
        service: str,
        traced: bool,
        render_error: ErrorRenderer = error_problem,
    ) -> None:
        self.app = app
        self.routes = {(route.method, route.path): route.handler for route in routes}
        self.methods: dict[str, list[str]] = {}
        for route in routes:
            self.methods.setdefault(route.path, []).append(route.method)
        self.service = service
        self.render_error = render_error
        # Spans only when they are exported; the caller's trace context is kept either way.
        self.traced = traced

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        handler = None
        if scope["type"] == "http":
            handler = self.routes.get((scope["method"], scope["path"]))
            if handler is None and scope["path"] in self.methods:
                handler = self._refuse_method
        if handler is None:
            await self.app(scope, receive, send)
            return
        await self._serve(handler, scope, receive, send)

    async def _refuse_method(self, request: Request) -> Response:
        allowed = ", ".join(self.methods[request.url.path])
        raise MethodNotAllowed(
            f"{request.method} is not served here; use {allowed}", headers={"Allow": allowed}
        )

    async def _serve(self, handler: DirectHandler, scope: Scope, receive: Any, send: Any) -> None:
        start = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name in (b"x-request-id", b"traceparent", b"tracestate"):
                headers.setdefault(name.decode(), value.decode("latin-1"))
        request_id = request_id_for(headers.get("x-request-id"))
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
            return self.render_error(unexpected_error(exc, f"{request.method} {path}"), path)


REF = "#/components/schemas/{model}"


def describe_direct_routes(document: dict[str, Any], routes: Sequence[DirectRoute]) -> None:
    """Add the routes' operations, and their models' schemas, to an OpenAPI document."""
    inputs = [(route.body, "validation") for route in routes if route.body is not None]
    outputs = [(route.answer, "serialization") for route in routes if route.answer is not None]
    _, definitions = models_json_schema([*inputs, *outputs], ref_template=REF)  # type: ignore[list-item]
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(definitions.get("$defs", {}))
    for route in routes:
        answer: dict[str, Any] = {"description": "Successful Response"}
        if route.answer is not None:
            ref = {"$ref": REF.format(model=route.answer.__name__)}
            answer["content"] = {"application/json": {"schema": ref}}
        operation: dict[str, Any] = {
            "tags": list(route.tags),
            "summary": (route.handler.__doc__ or "").strip().split("\n")[0],
            "operationId": f"{route.handler.__name__}_{route.path.strip('/').replace('/', '_')}",
            "responses": {str(route.status_code): answer},
        }
        if route.body is not None:
            ref = {"$ref": REF.format(model=route.body.__name__)}
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref}},
            }
        document.setdefault("paths", {}).setdefault(route.path, {})[route.method.lower()] = (
            operation
        )
