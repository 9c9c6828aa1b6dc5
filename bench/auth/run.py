"""Auth latency and throughput on this machine, against the real database, Redis and broker.

    .venv/bin/python bench/auth/run.py [--logins 60] [--refreshes 3000] [--mes 6000]
                                       [--concurrency 50]

Starts the auth service as its own process (``python -m tollgate.auth``, uvloop,
the production entry point) on a free port and measures, with an aiohttp client:

1. login latency: sequential ``POST /api/auth/login-json`` (argon2id at the
   configured parameters; the default is OWASP's 19 MiB, t=2, p=1), then the same
   at the chosen concurrency, to show what the hashing costs when logins pile up.
2. refresh throughput and latency: each of ``concurrency`` clients holds its own
   session and refreshes in a loop (every refresh spends the token, writes the
   successor and signs a new access token).
3. ``GET /api/auth/me`` throughput and latency: token verification plus the
   user and session lookups auth does on every user route.

A sign-in answer carries the period's figures, which auth asks usage for with the
person's token; a stand-in usage in this process answers them (no calls yet), so each
sign-in makes that call as it does in production, and nothing waits on a refused one.

It resets the ``auth_test`` database and uses the ``tollgate_test_auth`` vhost and
Redis database, so do not run it while auth's tests run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
from aiohttp import web

from tollgate.shared.testing import (
    free_port,
    reset_database,
    test_amqp_url,
    test_database_url,
    test_redis_url,
)

ROOT = Path(__file__).resolve().parents[2]
SERVICE_DIR = ROOT / "services" / "auth"
PASSWORD = "correct horse battery staple"


def summary(name: str, latencies: list[float], elapsed: float) -> str:
    ms = sorted(x * 1000 for x in latencies)
    p = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]  # noqa: E731
    return (
        f"{name:<28} {len(ms):>6} req  {len(ms) / elapsed:>8.0f} req/s  "
        f"p50 {p(0.50):7.1f} ms  p95 {p(0.95):7.1f} ms  p99 {p(0.99):7.1f} ms  "
        f"mean {statistics.fmean(ms):7.1f} ms"
    )


async def wait_ready(base: str) -> None:
    deadline = time.monotonic() + 30.0
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{base}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("auth did not become ready")


async def usage_standin() -> tuple[web.AppRunner, str]:
    """The one question auth asks usage at a sign-in: the period's figures."""

    async def period(request: web.Request) -> web.Response:
        return web.json_response({"requests": 0, "used": 0})

    app = web.Application()
    app.router.add_get("/api/subscriptions/usage", period)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def run(args: argparse.Namespace) -> None:
    await reset_database(test_database_url("auth"), SERVICE_DIR)
    usage, usage_url = await usage_standin()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TOLLGATE_ENV": "test",
        "AUTH_PORT": str(port),
        "AUTH_DATABASE_URL": test_database_url("auth"),
        "AMQP_URL": test_amqp_url("auth"),
        "REDIS_URL": test_redis_url("auth"),
        "AUTH_SERVICE_CLIENTS": "gateway:bench-secret",
        "AUTH_KEY_ENCRYPTION_SECRET": "bench-secret",
        "AUTH_USAGE_URL": usage_url,
        "LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen([sys.executable, "-m", "tollgate.auth"], env=env, cwd=ROOT)  # noqa: ASYNC220
    try:
        await wait_ready(base)
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(base_url=base, connector=connector) as http:
            await bench(http, args)
    finally:
        proc.terminate()
        proc.wait(10)
        await usage.cleanup()


async def bench(http: aiohttp.ClientSession, args: argparse.Namespace) -> None:
    emails = [f"bench-{uuid.uuid4().hex[:10]}@example.com" for _ in range(args.concurrency)]
    sessions: list[dict[str, str]] = []
    for email in emails:
        async with http.post(
            "/api/auth/register", json={"email": email, "password": PASSWORD}
        ) as r:
            assert r.status == 201, await r.text()
            sessions.append(await r.json())

    async def login(email: str) -> float:
        start = time.perf_counter()
        async with http.post(
            "/api/auth/login-json", json={"email": email, "password": PASSWORD}
        ) as r:
            assert r.status == 200, await r.text()
            await r.read()
        return time.perf_counter() - start

    started = time.perf_counter()
    sequential = [await login(emails[i % len(emails)]) for i in range(args.logins)]
    print(summary("login, sequential", sequential, time.perf_counter() - started))

    started = time.perf_counter()
    parallel = await asyncio.gather(*(login(emails[i % len(emails)]) for i in range(args.logins)))
    elapsed = time.perf_counter() - started
    print(summary(f"login, {args.concurrency} at once", list(parallel), elapsed))

    per_client = args.refreshes // args.concurrency

    async def refresher(session: dict[str, str]) -> list[float]:
        token = session["refresh_token"]
        times = []
        for _ in range(per_client):
            start = time.perf_counter()
            async with http.post("/api/auth/refresh", json={"refresh_token": token}) as r:
                assert r.status == 200, await r.text()
                body = await r.json()
            times.append(time.perf_counter() - start)
            token = body["refresh_token"]
            session["access_token"] = body["access_token"]
        return times

    started = time.perf_counter()
    results = await asyncio.gather(*(refresher(s) for s in sessions))
    elapsed = time.perf_counter() - started
    print(summary("refresh", [t for r in results for t in r], elapsed))

    per_me = args.mes // args.concurrency

    async def reader(session: dict[str, str]) -> list[float]:
        headers = {"Authorization": f"Bearer {session['access_token']}"}
        times = []
        for _ in range(per_me):
            start = time.perf_counter()
            async with http.get("/api/auth/me", headers=headers) as r:
                assert r.status == 200, await r.text()
                await r.read()
            times.append(time.perf_counter() - start)
        return times

    started = time.perf_counter()
    results = await asyncio.gather(*(reader(s) for s in sessions))
    elapsed = time.perf_counter() - started
    print(summary("me", [t for r in results for t in r], elapsed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=60)
    parser.add_argument("--refreshes", type=int, default=3000)
    parser.add_argument("--mes", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=50)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
