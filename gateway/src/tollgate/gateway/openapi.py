"""One OpenAPI document for the whole public API, merged from every service's own.

Only paths the gateway routes to that service are kept (never ``/internal``).
Schema names that two services define differently are prefixed with the service's
name, and that service's references are rewritten to match. A service that does
not answer is left out and named under ``x-tollgate-unavailable``; the merged
document is cached for a while.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp
from fastapi.openapi.docs import get_swagger_ui_html

from tollgate.gateway.config import Service
from tollgate.gateway.routing import RouteTable

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


def merge_documents(
    documents: dict[Service, dict[str, Any]], routes: RouteTable, title: str = "Tollgate API"
) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for service, document in documents.items():
        own_schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
        renames = {
            name: f"{service.replace('-', '_')}_{name}"
            for name, schema in own_schemas.items()
            if name in schemas and schemas[name] != schema
        }
        for path, item in document.get("paths", {}).items():
            route = routes.resolve("GET", path.replace("{", "").replace("}", ""))
            if route is None or route.service != service:
                continue
            paths[path] = _rewrite_refs(item, renames)
        for name, schema in own_schemas.items():
            schemas[renames.get(name, name)] = _rewrite_refs(schema, renames)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1"},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT or tg_ key"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
        "security": [{"bearer": []}, {"apiKey": []}],
    }


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
    """Swagger UI over the merged document (the page FastAPI's services serve too)."""
    page = get_swagger_ui_html(openapi_url="/openapi.json", title="Tollgate API")
    return bytes(page.body)
