"""The gateway's own routes: health, readiness, metrics, the merged API docs."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tollgate.gateway.components import GATEWAY, Gateway
from tollgate.gateway.errors import NotFound, error_response
from tollgate.gateway.openapi import docs_page
from tollgate.shared.api_docs import DOCS_CSP, asset

__all__ = ["docs", "docs_asset", "healthz", "metrics", "openapi_document", "readyz"]


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready unless the gateway cannot verify anyone; degraded parts are named."""
    gw: Gateway = request.app[GATEWAY]
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(gw.redis.ping(), timeout=1)
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = (
            f"failing: {type(exc).__name__}: {exc}; in-process rate limits in use, "
            "auth endpoints refused"
        )
    checks["broker"] = "ok" if gw.broker.is_connected else "failing: not connected"
    if not gw.verifier.key_ids:
        await gw.verifier.refresh()
    checks["jwks"] = (
        f"ok, {len(gw.verifier.key_ids)} key(s)" if gw.verifier.key_ids else "failing: no keys"
    )
    ready = bool(gw.verifier.key_ids)
    degraded = any(v.startswith("failing") for v in checks.values())
    status = "not ready" if not ready else "degraded" if degraded else "ready"
    return web.json_response({"status": status, "checks": checks}, status=200 if ready else 503)


async def metrics(_request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi_document(request: web.Request) -> web.Response:
    body = await request.app[GATEWAY].openapi.document()
    return web.Response(body=body, content_type="application/json")


async def docs(_request: web.Request) -> web.Response:
    return web.Response(
        body=docs_page(), content_type="text/html", headers={"Content-Security-Policy": DOCS_CSP}
    )


async def docs_asset(request: web.Request) -> web.StreamResponse:
    """Swagger UI's own files, from the installed package: the docs need no network."""
    found = asset(request.match_info["name"])
    if found is None:
        return error_response(request.path, NotFound("No such docs asset"))
    source, content_type = found
    headers = {"Cache-Control": "public, max-age=86400", "Content-Type": content_type}
    if isinstance(source, bytes):
        return web.Response(body=source, headers=headers)
    return web.FileResponse(source, headers=headers)
