"""The bench's other side: the upstream, and usage's reservations with a JWKS.

    python bench/llm/standins.py upstream
    python bench/llm/standins.py usage USERS

Each role runs in its own process (run.py starts both), prints one JSON line of
URLs (and for ``usage`` a token per user), then serves until killed. The upstream
and the usage stand-in are the ones the LLM proxy's tests use; usage settles holds
from the ``usage.recorded`` events it consumes from RabbitMQ. Apart, a busy usage
stand-in does not slow the upstream that the "direct" rows measure, and neither
steals the other's event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "llm-proxy" / "tests"))

from llm_standins import FakeProvider, FakeUsage

from tollgate.shared.testing import SigningKey, free_port

AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/tollgate")


async def upstream() -> None:
    provider = FakeProvider("bench")
    await provider.start()
    print(json.dumps({"upstream": provider.url}), flush=True)
    while True:
        # The bench never reads the provider's request list; keep memory flat on long runs.
        await asyncio.sleep(5)
        provider.requests.clear()


async def usage(users: int) -> None:
    key = SigningKey()
    ledger = FakeUsage(key, AMQP_URL)
    await ledger.start()

    async def jwks(_request: web.Request) -> web.Response:
        return web.json_response({"keys": [key.jwk()]})

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response(
            {
                "holds": len(ledger.holds),
                "open_holds": len(ledger.open_holds()),
                "events": len(ledger.events),
                "anomalies": ledger.anomalies[:10],
            }
        )

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", jwks)
    app.router.add_get("/bench/stats", stats)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()

    tokens = []
    for _ in range(users):
        user = uuid.uuid4()
        ledger.fund(user, 10**12)
        tokens.append([str(user), key.mint(user, plan="enterprise", ttl=3600)])
    print(
        json.dumps(
            {
                "usage": ledger.url,
                "jwks": f"http://127.0.0.1:{port}/.well-known/jwks.json",
                "stats": f"http://127.0.0.1:{port}/bench/stats",
                "users": tokens,
            }
        ),
        flush=True,
    )
    await asyncio.Event().wait()


if __name__ == "__main__":
    import uvloop

    if sys.argv[1] == "upstream":
        uvloop.run(upstream())
    else:
        uvloop.run(usage(int(sys.argv[2])))
