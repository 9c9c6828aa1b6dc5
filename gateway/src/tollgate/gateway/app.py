"""The gateway's web application (aiohttp: it is the hot path, see bench/)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import Redis

from tollgate.gateway.config import Settings
from tollgate.shared.messaging.broker import Broker

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", Redis)
BROKER = web.AppKey("broker", Broker)


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(request.app[REDIS].ping(), timeout=2)
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"failing: {exc}"
    checks["broker"] = "ok" if request.app[BROKER].is_connected else "failing: not connected"
    ready = all(v == "ok" for v in checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings()
    app = web.Application()
    app[SETTINGS] = settings

    async def resources(app: web.Application) -> AsyncIterator[None]:
        app[REDIS] = Redis.from_url(settings.redis_url)
        app[BROKER] = Broker(settings.amqp_url)
        await app[BROKER].connect()
        yield
        await app[BROKER].close()
        await app[REDIS].aclose()

    app.cleanup_ctx.append(resources)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
