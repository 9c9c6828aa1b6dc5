"""One OpenAPI document for the whole public API, merged from every service's own.

Only operations the gateway routes to that service are kept (never ``/internal``).
Each is marked public or not from the gateway's own routing table (the one that
decides), and gains the errors the gateway answers itself: 401 and 429 before a
signed-in route, 429 and 503 before a sign-in route, 413 for a body too large,
502/503/504 when the service cannot answer, and the plain-text 400 of the HTTP
parser for a request line or header over its limits. Schema names that two services define
differently are prefixed with the service's name, and that service's references
are rewritten to match; schemas no operation reaches are dropped. A service that
does not answer is left out and named under ``x-tollgate-unavailable``; the merged
document is cached for a while.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp

from tollgate.gateway.config import Service
from tollgate.gateway.routing import Route, RouteTable
from tollgate.shared.api_docs import docs_page as swagger_page
from tollgate.shared.openai_errors import openai_shaped
from tollgate.shared.openapi import ERROR_SCHEMAS, ErrorShape, error_response, prune_schemas

__all__ = ["OpenAPIMerger", "docs_page", "merge_documents"]

log = logging.getLogger("tollgate.gateway.openapi")

REF_PREFIX = "#/components/schemas/"


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(REF_PREFIX):
                name = value[len(REF_PREFIX) :]
                out[key] = REF_PREFIX + renames.get(name, name)
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node


# What the gateway itself may answer, before or instead of the service.
UNREACHABLE = (502, 503, 504)
SIGNED_IN = (401, 429)  # no valid credentials; the caller's plan's rate limit
SIGN_IN = (429, 503)  # per-address throttle; refused while the counters (Redis) are down
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]
# aiohttp's HTTP parser answers a request line over 8 KiB or a header over 16 KiB itself,
# in plain text, before any handler of ours runs.
PARSER_REFUSAL = {
    "text/plain": {
        "schema": {
            "type": "string",
            "description": "The request line or a header is too long for the HTTP parser",
        }
    }
}
DESCRIPTION = """\
Every route is reached through this gateway. Routes that need a caller take an access
token (`Authorization: Bearer <JWT>`) or an API key (`Authorization: Bearer tg_…` or
`X-API-Key`); the routes marked with no security are public. Errors are
`application/problem+json` (RFC 9457) with a stable `type`, except on the
OpenAI-compatible routes (`/v1` and `/api/llm`), which answer in OpenAI's error shape so
OpenAI clients understand it. Every answer carries `X-Request-ID`.
"""


def _gateway_statuses(route: Route, has_body: bool) -> list[int]:
    statuses = list(UNREACHABLE)
    if not route.public:
        statuses += SIGNED_IN
    elif route.route_class == "auth":
        statuses += SIGN_IN
    if has_body:
        statuses.append(413)
    return statuses


def _add_gateway_errors(path: str, method: str, operation: dict[str, Any], route: Route) -> None:
    """The errors the gateway answers itself, in its own shape, merged into the service's."""
    operation["security"] = [] if route.public else SECURITY
    shape: ErrorShape = "openai" if openai_shaped(path) else "problem"
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in _gateway_statuses(route, "requestBody" in operation):
        ours = error_response(status, (shape,))
        theirs = responses.setdefault(str(status), ours)
        for media, body in ours["content"].items():
            theirs.setdefault("content", {}).setdefault(media, body)
        for name, header in ours.get("headers", {}).items():
            theirs.setdefault("headers", {}).setdefault(name, header)
    refused = responses.setdefault("400", {"description": "The request cannot be served as sent"})
    refused.setdefault("content", {}).update(PARSER_REFUSAL)
    operation["responses"] = dict(sorted(responses.items()))


def merge_documents(
    documents: dict[Service, dict[str, Any]], routes: RouteTable, title: str = "Tollgate API"
) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = dict(ERROR_SCHEMAS)
    for service, document in documents.items():
        own_schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
        renames = {
            name: f"{service.replace('-', '_')}_{name}"
            for name, schema in own_schemas.items()
            if name in schemas and schemas[name] != schema
        }
        for path, item in document.get("paths", {}).items():
            concrete = path.replace("{", "").replace("}", "")
            kept: dict[str, Any] = {}
            for method, operation in _rewrite_refs(item, renames).items():
                route = routes.resolve(method.upper(), concrete)
                if route is None or route.service != service:
                    continue
                _add_gateway_errors(path, method, operation, route)
                kept[method] = operation
            if kept:
                paths[path] = kept
        for name, schema in own_schemas.items():
            schemas[renames.get(name, name)] = _rewrite_refs(schema, renames)
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1", "description": DESCRIPTION},
        # Relative: the gateway that served this document is the one to call.
        "servers": [{"url": "/", "description": "this gateway"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT or tg_ key"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }
    prune_schemas(merged)
    return merged


class OpenAPIMerger:
    def __init__(
        self,
        upstreams: dict[Service, str],
        routes: RouteTable,
        cache_seconds: float,
        session: aiohttp.ClientSession,
    ) -> None:
        self.upstreams = upstreams
        self.routes = routes
        self.cache_seconds = cache_seconds
        self.session = session
        self._cached: tuple[bytes, float] | None = None
        self._lock = asyncio.Lock()

    async def document(self) -> bytes:
        async with self._lock:
            if self._cached and time.monotonic() < self._cached[1]:
                return self._cached[0]
            fetched = await asyncio.gather(*(self._fetch(u) for u in self.upstreams.values()))
            documents = {s: d for s, d in zip(self.upstreams, fetched, strict=True) if d}
            merged = merge_documents(documents, self.routes)
            missing = [s for s in self.upstreams if s not in documents]
            if missing:
                merged["x-tollgate-unavailable"] = missing
            body = json.dumps(merged).encode()
            # A partial document is kept only briefly, so a restarted service shows up soon.
            ttl = self.cache_seconds if not missing else min(self.cache_seconds, 5.0)
            self._cached = (body, time.monotonic() + ttl)
            return body

    async def _fetch(self, base_url: str) -> dict[str, Any] | None:
        try:
            async with self.session.get(
                base_url + "/openapi.json", timeout=aiohttp.ClientTimeout(total=3)
            ) as response:
                response.raise_for_status()
                document: dict[str, Any] = await response.json(content_type=None)
                return document
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("no OpenAPI document from %s: %s", base_url, exc)
            return None


def docs_page() -> bytes:
    """Swagger UI over the merged document, its assets served by the gateway itself."""
    return swagger_page("/openapi.json", "Tollgate API")
