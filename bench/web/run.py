"""The usage dashboard for an account with 1,000,000 calls, through the gateway.

    .venv/bin/python bench/web/run.py [--rows 1000000] [--requests 300] [--concurrency 4]

Starts auth, usage, the web app and the gateway as their own processes (the
production entry points) on the development databases, at ports 300 above the
usual ones. Registers a person, puts their account on a plan whose rate limits the
load cannot reach (through ``subscription.changed``, as billing would), and writes
``--rows`` calls into usage's own tables with one ``generate_series`` statement,
spread over the last 90 days, plus the daily rollup the service keeps beside them.
Then ``--concurrency`` clients, each signed in through the web app's own form, load
``/usage`` (balance, 30 days by model and feature, the chart, the recent calls)
``--requests`` times in all, and it prints p50/p95/p99 and the CPU each process
spent per page. The seeded rows are deleted at the end.

Each page costs the web app 4 + (models) API calls; the gateway and usage serve
each of them, so their CPU per page is that many requests' worth.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from devstack import SERVICES, Stack  # noqa: E402

from tollgate.shared.messaging import Broker, make_envelope  # noqa: E402
from tollgate.shared.messaging.events import SubscriptionChanged  # noqa: E402

PASSWORD = "a bench passphrase 1"
NEEDED = ("auth", "usage", "web", "gateway")
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-haiku", "claude-3-5-sonnet")
UNREACHABLE = {
    "requests_per_minute": 10**7,
    "llm_requests_per_minute": 10**7,
    "tokens_per_minute": 10**12,
    "daily_requests": None,
    "allowed_models": ["*"],
}

SEED_CALLS = """
INSERT INTO usage_records (request_id, account_id, user_id, model, provider, endpoint,
    feature, status, prompt_tokens, completion_tokens, total_tokens, charged_credits,
    uncharged_credits, cost_usd, latency_ms, ttft_ms, started_at, recorded_at)
SELECT 'bench-web-' || CAST(:account AS text) || '-' || g,
    CAST(:account AS uuid), CAST(:account AS uuid),
    (ARRAY['gpt-4o-mini','gpt-4o','claude-3-5-haiku','claude-3-5-sonnet'])[1 + g % 4],
    'openrouter', 'chat.completions',
    (ARRAY['chat','completion','edit'])[1 + g % 3], 'success',
    100 + g % 50, 20 + g % 30, 120 + g % 50 + g % 30, 120 + g % 50 + g % 30, 0,
    0.0001, 200, 40, t, t
FROM generate_series(1, :rows) AS g,
     LATERAL (SELECT now() - (g % 129600) * interval '1 minute') AS s(t)
"""

SEED_ROLLUP = """
INSERT INTO daily_usage (day, account_id, user_id, model, provider, feature, requests,
    prompt_tokens, completion_tokens, total_tokens, charged_credits, cost_usd)
SELECT (started_at AT TIME ZONE 'UTC')::date, account_id, user_id, model, provider, feature,
    count(*), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens),
    sum(charged_credits), sum(cost_usd)
FROM usage_records WHERE account_id = :account
GROUP BY 1, 2, 3, 4, 5, 6
"""


def cpu_seconds(pids: dict[str, int]) -> dict[int, tuple[str, float]]:
    """CPU seconds so far of each process of the run, by pid: the services (and their
    workers), this client, PostgreSQL and Redis."""
    tick = os.sysconf("SC_CLK_TCK")
    by_pid = {pid: name for name, pid in pids.items()}
    seen: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, tail = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        fields, comm, pid = tail.split(), head.split("(", 1)[1], int(entry.name)
        parent = int(fields[1])
        if pid in by_pid or parent in by_pid:
            part = by_pid.get(pid) or by_pid[parent]
        elif pid == os.getpid():
            part = "load client"
        elif comm.startswith("postgres"):
            part = "PostgreSQL"
        elif comm.startswith("redis-server"):
            part = "Redis"
        else:
            continue
        seen[pid] = (part, (int(fields[11]) + int(fields[12])) / tick)
    return seen


def cpu_spent(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], parts: list[str]
) -> dict[str, float]:
    """CPU seconds per part between two snapshots. A process that ended in between
    (a PostgreSQL parallel worker) is not counted: PostgreSQL's share is a floor."""
    spent = dict.fromkeys(parts, 0.0)
    for pid, (part, seconds) in after.items():
        spent[part] += seconds - before.get(pid, (part, 0.0))[1]
    return spent


def start(stack: Stack) -> dict[str, subprocess.Popen[bytes]]:
    env = stack.env() | {"LOG_LEVEL": "WARNING", "LOG_FORMAT": "json"}
    for spec in SERVICES:
        if spec.name in NEEDED and spec.database:
            migrate = [sys.executable, "-m", spec.module, "migrate"]
            subprocess.run(migrate, env=env, cwd=ROOT, check=True, capture_output=True)
    log_dir = ROOT / ".run" / "bench-web"
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = {}
    for spec in SERVICES:
        if spec.name in NEEDED:
            log = (log_dir / f"{spec.name}.log").open("ab")
            procs[spec.name] = subprocess.Popen(
                [sys.executable, "-m", spec.module],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    return procs


async def wait_ready(stack: Stack, http: aiohttp.ClientSession) -> None:
    for name in NEEDED:
        for _ in range(300):
            try:
                async with http.get(f"{stack.url(name)}/readyz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"{name} did not become ready (see .run/bench-web/{name}.log)")


async def register(http: aiohttp.ClientSession, gateway: str) -> tuple[str, uuid.UUID]:
    email = f"bench-web-{uuid.uuid4().hex[:10]}@example.com"
    async with http.post(
        f"{gateway}/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Bench"}
    ) as response:
        body = await response.json()
        if response.status != 201:
            raise RuntimeError(f"register: {response.status} {body}")
    return email, uuid.UUID(body["user"]["id"])


async def unlimited_plan(amqp_url: str, account: uuid.UUID) -> None:
    broker = Broker(amqp_url)
    await broker.connect()
    now = datetime.now(UTC)
    event = SubscriptionChanged(
        account_id=account,
        user_id=account,
        plan="enterprise",
        status="active",
        current_period_start=now - timedelta(days=10),
        current_period_end=now + timedelta(days=20),
        monthly_tokens=10**12,
        limits=UNREACHABLE,
        sequence=10**9,
    )
    await broker.publish(make_envelope("billing", account, event))
    await broker.close()


async def seed(database_url: str, account: uuid.UUID, rows: int) -> float:
    engine = create_async_engine(database_url)
    began = time.perf_counter()
    try:
        async with engine.connect() as conn:
            for _ in range(200):  # the account appears once usage has read the events
                found = await conn.scalar(
                    text("SELECT plan FROM accounts WHERE id = :a"), {"a": account}
                )
                await conn.commit()
                if found == "enterprise":
                    break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("usage never opened the account on the bench plan")
        async with engine.begin() as conn:
            await conn.execute(text(SEED_CALLS), {"account": str(account), "rows": rows})
            await conn.execute(text(SEED_ROLLUP), {"account": account})
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE usage_records"))
            await conn.execute(text("ANALYZE daily_usage"))
            await conn.commit()
    finally:
        await engine.dispose()
    return time.perf_counter() - began


async def unseed(database_url: str, account: uuid.UUID) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            for table in ("usage_records", "daily_usage"):
                delete = text(f"DELETE FROM {table} WHERE account_id = :a")
                await conn.execute(delete, {"a": account})
    finally:
        await engine.dispose()


async def signed_in_browser(gateway: str, email: str) -> aiohttp.ClientSession:
    """A client with its own cookie jar, signed in through the web app's form."""
    browser = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with browser.get(f"{gateway}/sign-in") as response:
        page = await response.text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None, "no CSRF token on the sign-in page"
    form = {"csrf_token": token[1], "email": email, "password": PASSWORD, "next": "/usage"}
    async with browser.post(f"{gateway}/sign-in", data=form) as response:
        if response.status != 200 or not str(response.url).endswith("/usage"):
            raise RuntimeError(f"sign-in through the web app: {response.status} {response.url}")
    return browser


async def load(gateway: str, browsers: list[aiohttp.ClientSession], total: int) -> list[float]:
    latencies: list[float] = []
    remaining = total

    async def client(browser: aiohttp.ClientSession) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            began = time.perf_counter()
            async with browser.get(f"{gateway}/usage") as response:
                page = await response.text()
                if response.status != 200 or "Tokens per day by model" not in page:
                    raise RuntimeError(f"/usage answered {response.status}")
            latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(client(b) for b in browsers))
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    stack = Stack(port_offset=300)
    env = stack.env()
    gateway = stack.url("gateway")
    procs = start(stack)
    account: uuid.UUID | None = None
    try:
        async with aiohttp.ClientSession() as http:
            await wait_ready(stack, http)
            email, account = await register(http, gateway)
        await unlimited_plan(env["AMQP_URL"], account)
        seeded = await seed(env["USAGE_DATABASE_URL"], account, args.rows)
        browsers = [await signed_in_browser(gateway, email) for _ in range(args.concurrency)]
        try:
            await load(gateway, browsers, 2 * args.concurrency)  # warm caches and pools
            pids = {name: p.pid for name, p in procs.items()}
            before, began = cpu_seconds(pids), time.perf_counter()
            latencies = await load(gateway, browsers, args.requests)
            elapsed, after = time.perf_counter() - began, cpu_seconds(pids)
        finally:
            for browser in browsers:
                await browser.close()
    finally:
        if account is not None:
            await unseed(env["USAGE_DATABASE_URL"], account)
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(timeout=15)

    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100)
    print(f"{args.rows:,} calls seeded in {seeded:.1f} s (records and daily rollup)")
    print(f"GET /usage through the gateway, {args.concurrency} signed-in clients, {len(ms)} pages")
    print()
    print("| pages/s | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    print(f"| {len(ms) / elapsed:.1f} | {q[49]:.0f} | {q[94]:.0f} | {q[98]:.0f} | {ms[-1]:.0f} |")
    print()
    parts = [*procs, "load client", "PostgreSQL", "Redis"]
    per_page = {p: t * 1000 / len(ms) for p, t in cpu_spent(before, after, parts).items()}
    print("| CPU per page (ms) | " + " | ".join(parts) + " | total |")
    print("|---|" + "---|" * (len(parts) + 1))
    cells = " | ".join(f"{v:.1f}" for v in per_page.values())
    print(f"| | {cells} | {sum(per_page.values()):.1f} |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    asyncio.run(main())
