"""The stand-in service for the benchmark: a small JSON answer, and a JWKS.

Run as ``python standin.py PORT JWK_JSON``; it serves ``/api/tokens/balance`` the way
usage would (same size of answer, no work) and the public key at the JWKS path.
"""

from __future__ import annotations

import json
import sys

import uvloop
from aiohttp import web

BALANCE = json.dumps(
    {
        "available": 91_234,
        "reserved": 0,
        "used_this_period": 8_766,
        "allocation": 100_000,
        "period_start": "2026-11-01T00:00:00Z",
        "period_end": "2026-12-01T00:00:00Z",
        "grants": [],
    }
).encode()


def main() -> None:
    port, jwk = int(sys.argv[1]), json.loads(sys.argv[2])

    async def balance(_request: web.Request) -> web.Response:
        return web.Response(body=BALANCE, content_type="application/json")

    async def jwks(_request: web.Request) -> web.Response:
        return web.json_response({"keys": [jwk]})

    app = web.Application()
    app.router.add_get("/api/tokens/balance", balance)
    app.router.add_get("/.well-known/jwks.json", jwks)
    web.run_app(
        app, host="127.0.0.1", port=port, access_log=None, print=None, loop=uvloop.new_event_loop()
    )


if __name__ == "__main__":
    main()
