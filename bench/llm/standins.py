"""The bench's other side: the upstream, auth's keys, and (as an option) usage in memory.

    python bench/llm/standins.py upstream
    python bench/llm/standins.py auth USERS
    python bench/llm/standins.py usage USERS

Each role runs in its own process (run.py starts the ones it needs), prints one JSON
line of URLs (and for ``auth`` and ``usage`` a token per user), then serves until
killed. ``auth`` is what the path asks of auth: a JWKS and service tokens (client
credentials); the users' tokens it signs are for fixed bench users, so the real
usage service keeps one account each from run to run. ``usage`` is the in-memory
reservation contract of the LLM proxy's tests, settling holds from the
``usage.recorded`` events it consumes from RabbitMQ (``run.py --usage-standin``).
Apart, a busy stand-in does not slow the upstream that the "direct" rows measure.
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


def bench_users(count: int) -> list[uuid.UUID]:
    """The same users every run: their accounts at usage are made (and funded) once."""
    return [uuid.uuid5(uuid.NAMESPACE_URL, f"tollgate-bench-llm/{i}") for i in range(count)]


async def auth(users: int) -> None:
    key = SigningKey()

    async def jwks(_request: web.Request) -> web.Response:
        return web.json_response({"keys": [key.jwk()]})

    async def service_token(request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "client_credentials" or not form.get("client_id"):
            return web.json_response({"error": "invalid_client"}, status=401)
        token = key.mint(f"service:{form['client_id']}", typ="service", role="user", ttl=3600)
        answer = {"access_token": token, "token_type": "bearer", "expires_in": 3600}
        return web.json_response(answer)

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", jwks)
    app.router.add_post("/internal/service-token", service_token)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    tokens = [
        [str(user), key.mint(user, plan="enterprise", ttl=3600)] for user in bench_users(users)
    ]
    # An admin's token too: the bench prices its model at usage, as an admin would.
    admin = key.mint(str(uuid.uuid4()), role="admin", ttl=3600)
    jwks_url = f"{base}/.well-known/jwks.json"
    print(
        json.dumps({"auth": base, "jwks": jwks_url, "users": tokens, "admin": admin}),
        flush=True,
    )
    await asyncio.Event().wait()


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
                "auth": ledger.url,
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
    elif sys.argv[1] == "auth":
        uvloop.run(auth(int(sys.argv[2])))
    else:
        uvloop.run(usage(int(sys.argv[2])))
