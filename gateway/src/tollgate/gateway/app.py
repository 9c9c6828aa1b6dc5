"""The gateway's web application (aiohttp: it is the hot path, see bench/gateway).

Every proxied request takes the same short path (``pipeline.py``): route lookup,
credential check (cached), one Redis round trip for revocation and rate limit, then
the service.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from tollgate.gateway.components import GATEWAY, Gateway, build_gateway, close_gateway
from tollgate.gateway.config import Settings
from tollgate.gateway.edge import name_the_server_plainly
from tollgate.gateway.malformed import log_malformed_requests_plainly
from tollgate.gateway.ops import docs, docs_asset, healthz, metrics, openapi_document, readyz
from tollgate.gateway.pipeline import on_prepare, proxy
from tollgate.shared.heap import freeze_startup_heap

__all__ = ["GATEWAY", "Gateway", "create_app"]

log = logging.getLogger("tollgate.gateway")


async def _connect_broker(gw: Gateway) -> None:
    """Connect and consume, retrying in the background: the gateway serves meanwhile."""
    delay = 0.5
    while True:
        try:
            await gw.broker.connect()
            await gw.consumer.start()
            log.info("consuming events")
            return
        except Exception as exc:
            log.warning("broker not reachable (%s); retrying in %.0fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings()
    name_the_server_plainly()
    log_malformed_requests_plainly()
    app = web.Application(client_max_size=settings.max_body_bytes)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        gw = build_gateway(settings)
        app[GATEWAY] = gw
        await gw.verifier.refresh()
        gw.background.append(asyncio.create_task(_connect_broker(gw)))
        # Measured flat out, full collections took 15% of the time and stalled the loop
        # for up to 220 ms, the whole p99 tail: the start-up heap leaves their sight.
        freeze_startup_heap()
        yield
        await close_gateway(gw)

    app.cleanup_ctx.append(resources)
    app.on_response_prepare.append(on_prepare)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi_document)
    app.router.add_get("/docs", docs)
    app.router.add_get("/docs/assets/{name}", docs_asset)
    # [\s\S], not ".": a path with an encoded line break must reach proxy() too, and get
    # its problem+json 404, not aiohttp's plain-text one.
    app.router.add_route("*", "/{tail:[\\s\\S]*}", proxy)
    return app
