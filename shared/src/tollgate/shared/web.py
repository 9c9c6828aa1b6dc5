"""The frame every service's FastAPI app is built in: ids, errors, health, metrics, tracing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from starlette.types import Receive, Scope, Send

from tollgate.shared.api_docs import docs_router
from tollgate.shared.direct_routes import (
    DirectRoute,
    DirectRoutes,
    ErrorRenderer,
    describe_direct_routes,
)
from tollgate.shared.errors import error_problem, install_problem_handlers
from tollgate.shared.inputs import InputGuard
from tollgate.shared.logs import request_id_for, request_id_var
from tollgate.shared.openapi import describe_service
from tollgate.shared.telemetry import PrometheusMiddleware, metrics_endpoint, setup_tracing

__all__ = [
    "ReadinessCheck",
    "RequestIdMiddleware",
    "ServiceApp",
    "TraceContextMiddleware",
    "create_service_app",
    "health_router",
]

ReadinessCheck = Callable[[], Awaitable[Any]]


class RequestIdMiddleware:
    """Takes a well-formed ``X-Request-ID`` from the caller or makes one, and echoes it back."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        candidate = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                break
        request_id = request_id_for(candidate)
        token = request_id_var.set(request_id)
        raw_id = request_id.encode()

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", raw_id)]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            request_id_var.reset(token)


class TraceContextMiddleware:
    """Without an exporter: the caller's trace context made current, and no spans.

    Spans that no collector receives cost more per request here than the route's
    own work, so a service without ``OTEL_EXPORTER_OTLP_ENDPOINT`` records none.
    The caller's ``traceparent`` still becomes the current context, so log lines
    carry its trace id and events written during the request carry it on.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        carrier = {}
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"traceparent" or name == b"tracestate":
                    carrier[name.decode()] = value.decode("latin-1")
        if not carrier:
            await self.app(scope, receive, send)
            return
        token = otel_context.attach(propagate.extract(carrier))
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)


def health_router(checks: dict[str, ReadinessCheck], timeout: float = 2.0) -> APIRouter:
    """``/healthz``: the process answers. ``/readyz``: every dependency answers in time."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        async def run(check: ReadinessCheck) -> str:
            try:
                result = await asyncio.wait_for(check(), timeout=timeout)
            except Exception as exc:
                return f"failing: {type(exc).__name__}: {exc}"[:300]
            return result if isinstance(result, str) else "ok"

        names = list(checks)
        results = await asyncio.gather(*(run(checks[n]) for n in names))
        report = dict(zip(names, results, strict=True))
        ready = all(not r.startswith("failing") for r in results)
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": report},
            status_code=200 if ready else 503,
        )

    return router


class ServiceApp(FastAPI):
    """A service's FastAPI app, which may answer its hottest routes ahead of its own frame.

    ``serve_directly`` declares such routes (``tollgate.shared.direct_routes``): each
    is answered before any middleware, once, by its one handler, and is described in
    the OpenAPI document like the FastAPI routes are.
    """

    def __init__(
        self,
        *,
        service: str,
        traced: bool,
        amend_openapi: Callable[[dict[str, Any]], None] | None = None,
        **fastapi: Any,
    ) -> None:
        super().__init__(**fastapi)
        self.service = service
        self.traced = traced
        self.amend_openapi = amend_openapi
        self.direct_routes: list[DirectRoute] = []
        self._direct: DirectRoutes | None = None

    def serve_directly(
        self, routes: Sequence[DirectRoute], *, render_error: ErrorRenderer = error_problem
    ) -> None:
        self.direct_routes = [*self.direct_routes, *routes]
        self._direct = DirectRoutes(
            self._framed,
            self.direct_routes,
            service=self.service,
            traced=self.traced,
            render_error=render_error,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._direct is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self  # what the frame would have set: handlers find app.state
        await self._direct(scope, receive, send)

    async def _framed(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        """The document, built once: FastAPI's, the direct routes' operations, what the
        service adds (``amend_openapi``: streamed answers, say), then the security and
        errors of every operation (``tollgate.shared.openapi``)."""
        if self.openapi_schema is None:
            document = super().openapi()
            describe_direct_routes(document, self.direct_routes)
            if self.amend_openapi is not None:
                self.amend_openapi(document)
            describe_service(document, self.routes, self.direct_routes)
        assert self.openapi_schema is not None
        return self.openapi_schema


def create_service_app(
    *,
    service: str,
    title: str,
    lifespan: Any,
    readiness: dict[str, ReadinessCheck],
    otlp_endpoint: str | None = None,
    version: str = "0.1.0",
    amend_openapi: Callable[[dict[str, Any]], None] | None = None,
    api_docs: bool = True,
) -> ServiceApp:
    # FastAPI's own telemetry stays off: the instrumentor below makes the spans, once.
    quiet: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
    # FastAPI's own docs pages load Swagger UI from a CDN; ours serve it locally.
    app = ServiceApp(
        service=service,
        traced=bool(otlp_endpoint),
        amend_openapi=amend_openapi,
        title=title,
        version=version,
        lifespan=lifespan,
        telemetry=quiet,
        docs_url=None,
        redoc_url=None,
    )
    install_problem_handlers(app)
    app.include_router(health_router(readiness))
    if api_docs:
        app.include_router(docs_router(title))
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    setup_tracing(service, otlp_endpoint)
    # Innermost: its refusals carry the request id and count in the metrics like any answer.
    app.add_middleware(InputGuard)
    if otlp_endpoint:
        # One span per request; a span per ASGI send/receive costs more than it tells.
        FastAPIInstrumentor.instrument_app(
            app, excluded_urls="healthz,readyz,metrics", exclude_spans=["receive", "send"]
        )
    else:
        app.add_middleware(TraceContextMiddleware)
    app.add_middleware(PrometheusMiddleware, service=service)
    app.add_middleware(RequestIdMiddleware)
    return app
