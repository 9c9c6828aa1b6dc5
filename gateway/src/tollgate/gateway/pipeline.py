"""The path of every proxied request: route, credentials, admission, service.

Headers every answer carries (request id, rate limits, security, CORS) and the
request metrics are added in ``on_prepare``, which aiohttp calls for streamed and
whole answers alike.
"""

from __future__ import annotations

import functools
import logging
import time

from aiohttp import web
from opentelemetry import propagate, trace
from prometheus_client import Counter, Histogram

from tollgate.gateway.admission import Decision
from tollgate.gateway.components import GATEWAY, Gateway
from tollgate.gateway.config import Settings
from tollgate.gateway.edge import client_ip, request_id, secure_headers
from tollgate.gateway.errors import (
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TollgateError,
    TooManyRequests,
    Unauthorized,
    error_response,
)
from tollgate.gateway.identity import Caller
from tollgate.gateway.metrics import LATENCY, RATE_LIMIT_DECISIONS, REQUESTS
from tollgate.gateway.proxy import request_headers
from tollgate.gateway.routing import Route, normalise
from tollgate.shared.logs import request_id_var

__all__ = ["on_prepare", "proxy"]

log = logging.getLogger("tollgate.gateway")
tracer = trace.get_tracer("tollgate.gateway")

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_ROUTE_LABEL = web.RequestKey("route_label", str)
_STARTED = web.RequestKey("started", float)
_RATE_HEADERS = web.RequestKey("rate_headers", dict)


async def proxy(request: web.Request) -> web.StreamResponse:
    request[_STARTED] = time.perf_counter()
    # Log lines of this request carry its id (the connection's task serves many requests).
    request_id_var.set(request_id(request))
    gw: Gateway = request.app[GATEWAY]
    raw_path, _, query = request.raw_path.partition("?")
    path = request.path
    try:
        preflight: web.Response | None = gw.cors.preflight(request)
        if preflight is not None:
            return preflight
        normalised = normalise(raw_path)
        route = gw.routes.resolve(request.method, normalised) if normalised else None
        if route is None or normalised is None:
            raise NotFound(f"No route for {path}")
        path = normalised
        target = f"{normalised}?{query}" if query else normalised
        request[_ROUTE_LABEL] = route.label
        length = request.content_length
        if length is not None and length > gw.settings.max_body_bytes:
            raise PayloadTooLarge(f"Request body is larger than {gw.settings.max_body_bytes} bytes")
        ip = client_ip(request, gw.settings.trusted_proxy_hops, gw.settings.trusted_proxies)
        if route.public:
            authorization = request.headers.get("Authorization")
            if route.route_class == "auth":
                await _admit_ip(gw, request, ip)
        else:
            caller = await _admitted_caller(gw, request, route)
            authorization = "Bearer " + caller.token
        try:
            body = await request.read() if request.body_exists else None
        except web.HTTPRequestEntityTooLarge as exc:
            raise PayloadTooLarge(
                f"Request body is larger than {gw.settings.max_body_bytes} bytes"
            ) from exc
        extra = {
            "X-Request-ID": request_id(request),
            "X-Forwarded-For": _forwarded_for(request, ip, gw.settings),
            "X-Forwarded-Proto": request.scheme,
            "X-Forwarded-Host": request.host,
        }
        if authorization is not None:
            extra["Authorization"] = authorization
        if not gw.tracing:
            # No exporter: pass the caller's trace context on untouched, skip the span.
            for name in ("traceparent", "tracestate"):
                if name in request.headers:
                    extra[name] = request.headers[name]
            return await _forward(gw, request, route, target, extra, body)
        with tracer.start_as_current_span(
            f"{request.method} {route.label}",
            context=propagate.extract(request.headers),
            kind=trace.SpanKind.SERVER,
        ):
            propagate.inject(extra)
            return await _forward(gw, request, route, target, extra, body)
    except TollgateError as error:
        if error.status_code >= 500:
            log.warning("%s %s: %s", request.method, path, error.detail)
        rendered: web.Response = error_response(path, error)
        return rendered
    except Exception:
        # A bug of ours: the caller still gets a proper error document, the log the trace.
        log.exception("unexpected error on %s %s", request.method, path)
        unexpected: web.Response = error_response(
            path, TollgateError("An unexpected error occurred")
        )
        return unexpected


async def _forward(
    gw: Gateway,
    request: web.Request,
    route: Route,
    target: str,
    extra: dict[str, str],
    body: bytes | None,
) -> web.StreamResponse:
    headers = request_headers(request.headers, extra)
    response: web.StreamResponse = await gw.upstreams.forward(
        request, route.service, route.route_class, target, headers, body
    )
    return response


def _forwarded_for(request: web.Request, ip: str, settings: Settings) -> str:
    # With trusted proxies configured (the web app) the chain can hold hops services
    # do not know of: they get the address resolved here, alone.
    if settings.trusted_proxies and ip != request.remote:
        return ip
    if settings.trusted_proxy_hops > 0 and request.headers.get("X-Forwarded-For"):
        return f"{request.headers['X-Forwarded-For']}, {request.remote}"
    return ip


async def _admitted_caller(gw: Gateway, request: web.Request, route: Route) -> Caller:
    route_class = route.route_class
    authorization = request.headers.get("Authorization")
    api_key = request.headers.get("X-API-Key")
    caller = await gw.authenticator.authenticate(authorization, api_key)
    decision = await gw.admission.admit(caller, route_class)
    if decision.revoked and caller.api_key_id is not None:
        # A user-wide revocation (password change) also refuses the JWT cached for an
        # API key; the key itself may still be good, so ask auth again, once.
        gw.api_keys.evict_key_id(caller.api_key_id)
        caller = await gw.authenticator.authenticate(authorization, api_key)
        decision = await gw.admission.admit(caller, route_class)
    _check(request, decision, caller, route)
    return caller


def _check(request: web.Request, decision: Decision, caller: Caller, route: Route) -> None:
    if decision.revoked:
        _decisions(route.route_class, "revoked").inc()
        raise Unauthorized(
            "This session has been revoked; sign in again", type_slug="token-revoked"
        )
    if not caller.may_use_key_for(route.key_scope):
        _decisions(route.route_class, "out-of-scope").inc()
        if route.key_scope is None:
            raise Forbidden(
                "API keys cannot do this; sign in interactively", type_slug="interactive-only"
            )
        raise Forbidden(
            f"This API key lacks the {route.key_scope} scope", type_slug="insufficient-scope"
        )
    _record(request, decision, route.route_class)


async def _admit_ip(gw: Gateway, request: web.Request, ip: str) -> None:
    decision = await gw.admission.admit_ip(ip)
    if decision is None:
        _decisions("auth", "unavailable").inc()
        # Fail closed: without shared counters, password guessing would be unthrottled.
        raise ServiceUnavailable("Sign-in is briefly unavailable; try again shortly")
    _record(request, decision, "auth")


def _record(request: web.Request, decision: Decision, route_class: str) -> None:
    outcome = "allowed" if decision.allowed else "limited"
    if decision.degraded:
        outcome += "-local"
    _decisions(route_class, outcome).inc()
    request[_RATE_HEADERS] = decision.headers()
    if not decision.allowed:
        raise TooManyRequests(
            f"Rate limit of {decision.limit} requests per minute reached",
            retry_after=decision.retry_after,
        )


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Headers every answer carries, streamed or not, and the request's metrics."""
    gw: Gateway = request.app[GATEWAY]
    response.headers["X-Request-ID"] = request_id(request)
    rate_headers = request.get(_RATE_HEADERS)
    if rate_headers:
        response.headers.update(rate_headers)
    secure_headers(response)
    gw.cors.apply(request, response)
    label = request.get(_ROUTE_LABEL, "unmatched")
    # Clients may send any method name; metrics must not grow with them.
    method = request.method if request.method in _METHODS else "OTHER"
    started = request.get(_STARTED)
    if started is not None:
        _latency(method, label).observe(time.perf_counter() - started)
    _requests(method, label, response.status).inc()


# Labelled children, looked up once: labels() costs more than the observation itself.
@functools.cache
def _latency(method: str, label: str) -> Histogram:
    child: Histogram = LATENCY.labels("gateway", method, label)
    return child


@functools.cache
def _decisions(route_class: str, outcome: str) -> Counter:
    child: Counter = RATE_LIMIT_DECISIONS.labels(route_class, outcome)
    return child


@functools.cache
def _requests(method: str, label: str, status: int) -> Counter:
    child: Counter = REQUESTS.labels("gateway", method, label, str(status))
    return child
