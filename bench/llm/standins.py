"""The bench's other side, in its own process: an upstream, usage's reservations, a JWKS.

    python bench/llm/standins.py USERS

Prints one JSON line (URLs and a token per user), then serves until killed. The
upstream and the usage stand-in are the ones the LLM proxy's tests use; usage
settles holds from the ``usage.recorded`` events it consumes from RabbitMQ.
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


async def main(users: int) -> None:
    key = SigningKey()
    upstream = FakeProvider("bench")
    await upstream.start()
    usage = FakeUsage(key, AMQP_URL)
    await usage.start()

    async def jwks(_request: web.Request) -> web.Response:
        return web.json_response({"keys": [key.jwk()]})

    async def stats(_request: web.Request) -> web.Response:
        # The bench never reads the provider's request list; keep memory flat on long runs.
        upstream.requests.clear()
        return web.json_response(
            {
                "holds": len(usage.holds),
                "open_holds": len(usage.open_holds()),
                "events": len(usage.events),
                "anomalies": usage.anomalies[:10],
                "upstream_calls": upstream.calls,
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
        usage.fund(user, 10**12)
        tokens.append([str(user), key.mint(user, plan="enterprise", ttl=3600)])
    print(
        json.dumps(
            {
                "upstream": upstream.url,
                "usage": usage.url,
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

    uvloop.run(main(int(sys.argv[1])))
