"""Usage service throughput on this machine, against the real database and broker.

    .venv/bin/python bench/usage/run.py [--pairs 4000] [--events 20000] [--accounts 200]
                                        [--concurrency 64] [--workers 1]

Runs the usage service as its own process (``python -m tollgate.usage``: uvicorn
on uvloop, the production entry point) on a free port, serves a JWKS for it, and
measures:

1. reservation pairs/s: ``POST /internal/reservations`` (service token + user
   token, as llm-proxy calls it) followed by the ``usage.recorded`` event that
   commits it; timed from the first request until the last hold is committed.
2. usage.recorded ingested/s: events queued while the service is stopped, then
   timed from the service's start until the last one is in the ledger (so the
   benchmark's own publishing speed does not count).

It resets the ``usage_test`` database and uses the ``tollgate_test_usage`` vhost,
so do not run it while the usage tests run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tollgate.shared.messaging import EXCHANGE, Broker, make_envelope
from tollgate.shared.messaging.events import SubscriptionChanged, UsageRecorded
from tollgate.shared.testing import (
    SigningKey,
    delete_queues,
    free_port,
    jwks_server,
    reset_database,
    test_amqp_url,
    test_database_url,
)
from tollgate.usage.models import Account, Hold, UsageRecord

ROOT = Path(__file__).resolve().parents[2]
SERVICE_DIR = ROOT / "services" / "usage"
USAGE_QUEUE = "usage.usage-recorded"
QUEUES = [USAGE_QUEUE, "usage.accounts", "usage.subscriptions"]


def usage_event(user: uuid.UUID, reservation_id: uuid.UUID | None) -> UsageRecorded:
    return UsageRecorded(
        request_id=uuid.uuid4().hex,
        reservation_id=reservation_id,
        user_id=user,
        model="gpt-4o-mini",
        provider="openrouter",
        endpoint="chat.completions",
        prompt_tokens=100,
        completion_tokens=40,
        total_tokens=140,
        cost_usd=Decimal("0.0001"),
        status="success",
        latency_ms=200,
        started_at=datetime.now(UTC),
    )


async def wait_for_count(
    engine: AsyncEngine,
    query: Any,
    target: int,
    limit_s: float,
    on_count: Callable[[int], None] | None = None,
) -> float:
    deadline = time.perf_counter() + limit_s
    async with engine.connect() as conn:
        while True:
            count = (await conn.execute(query)).scalar_one()
            await conn.commit()
            if on_count is not None:
                on_count(count)
            if count >= target:
                return time.perf_counter()
            if time.perf_counter() > deadline:
                raise RuntimeError(f"only {count}/{target} after {limit_s}s")
            await asyncio.sleep(0.01)


def cpu_by_part(service_pid: int) -> dict[str, float]:
    """CPU seconds so far of each part of the run: the service (and its workers), this
    load generator, the broker and the database."""
    tick = os.sysconf("SC_CLK_TCK")
    parts = dict.fromkeys(["usage", "load generator", "RabbitMQ", "PostgreSQL"], 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, tail = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        fields, name, pid = tail.split(), head.split("(", 1)[1], int(entry.name)
        if pid == service_pid or int(fields[1]) == service_pid:
            part = "usage"
        elif pid == os.getpid():
            part = "load generator"
        elif name.startswith("beam") or name in ("erl_child_setup", "epmd"):
            part = "RabbitMQ"
        elif name.startswith("postgres"):
            part = "PostgreSQL"
        else:
            continue  # anything else on the machine is not part of the run
        parts[part] += (int(fields[11]) + int(fields[12])) / tick
    return parts


class Service:
    """The usage service in its own process."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env, self.base = env, f"http://127.0.0.1:{port}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, http: aiohttp.ClientSession) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tollgate.usage", env=self.env, cwd=ROOT
        )
        for _ in range(300):
            try:
                async with http.get(f"{self.base}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise RuntimeError("usage did not become ready")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=4000)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="USAGE_WORKERS processes")
    args = parser.parse_args()

    db_url, amqp_url = test_database_url("usage"), test_amqp_url("usage")
    await reset_database(db_url, SERVICE_DIR)
    await delete_queues(amqp_url, QUEUES)
    key = SigningKey()
    async with jwks_server(key) as (jwks_url, _), aiohttp.ClientSession() as http:
        env = {
            **os.environ,
            "TOLLGATE_ENV": "test",
            "USAGE_DATABASE_URL": db_url,
            "AMQP_URL": amqp_url,
            "JWKS_URL": jwks_url,
            "USAGE_PORT": str(free_port()),
            "LOG_LEVEL": "WARNING",
            "USAGE_WORKERS": str(args.workers),
        }
        service = Service(env, int(env["USAGE_PORT"]))
        engine = create_async_engine(db_url)
        broker = Broker(amqp_url)
        try:
            await service.start(http)
            await broker.connect()
            users = [uuid.uuid4() for _ in range(args.accounts)]
            await fund(broker, users)
            await wait_for_count(engine, select(func.count()).select_from(Account), len(users), 60)
            assert service.proc is not None
            parts_before = cpu_by_part(service.proc.pid)
            pair_rate, latencies = await bench_pairs(
                http, service.base, broker, engine, key, users, args
            )
            parts_after = cpu_by_part(service.proc.pid)
            per_pair = {p: (parts_after[p] - parts_before[p]) / args.pairs for p in parts_after}
            pair_cpu = per_pair["usage"]
            await service.stop()
            event_rate, event_cpu = await bench_events(
                http, service, broker, engine, users, args.events
            )
        finally:
            await broker.close()
            await engine.dispose()
            await service.stop()
    p50 = statistics.median(latencies) * 1000
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000
    print(f"usage workers: {args.workers}, client concurrency: {args.concurrency}")
    print(f"reservation create+commit pairs/s: {pair_rate:,.0f}")
    print(f"  reservation POST latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"  usage service CPU per pair: {pair_cpu * 1e6:,.0f} us")
    shares = ", ".join(f"{p} {t * 1e6:,.0f}" for p, t in per_pair.items())
    whole = sum(per_pair.values())
    print(f"  CPU per pair, every part of the run (us): {shares}; total {whole * 1e6:,.0f}")
    cores = os.cpu_count() or 1
    print(f"  ceiling at that CPU per pair: {cores / whole:,.0f} pairs/s on {cores} CPUs")
    print(f"usage.recorded events ingested/s:  {event_rate:,.0f}")
    print(f"  usage service CPU per event: {event_cpu['usage'] * 1e6:,.0f} us")
    del event_cpu["load generator"]  # idle while the service drains the queue
    shares = ", ".join(f"{p} {t * 1e6:,.0f}" for p, t in event_cpu.items())
    whole = sum(event_cpu.values())
    print(f"  CPU per event, every part of the run (us): {shares}; total {whole * 1e6:,.0f}")
    print(f"  ceiling at that CPU per event: {cores / whole:,.0f} events/s on {cores} CPUs")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")


async def fund(broker: Broker, users: list[uuid.UUID]) -> None:
    for i, user in enumerate(users):
        await broker.publish(
            make_envelope(
                "bench",
                user,
                SubscriptionChanged(
                    account_id=user,
                    user_id=user,
                    plan="enterprise",
                    status="active",
                    current_period_start=datetime.now(UTC),
                    current_period_end=datetime(2099, 1, 1, tzinfo=UTC),
                    monthly_tokens=10**12,
                    sequence=i + 1,
                ),
            )
        )


async def bench_pairs(
    http: aiohttp.ClientSession,
    base: str,
    broker: Broker,
    engine: AsyncEngine,
    key: SigningKey,
    users: list[uuid.UUID],
    args: argparse.Namespace,
) -> tuple[float, list[float]]:
    service_token = key.mint("service:llm-proxy", typ="service", ttl=3600)
    user_tokens = [key.mint(u, plan="enterprise", ttl=3600) for u in users]
    latencies: list[float] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < args.pairs:
            i = next_index
            next_index += 1
            slot = i % len(users)
            started = time.perf_counter()
            async with http.post(
                f"{base}/internal/reservations",
                json={
                    "request_id": f"bench-{i}-{uuid.uuid4().hex}",
                    "model": "gpt-4o-mini",
                    "prompt_tokens": 100,
                    "max_completion_tokens": 100,
                },
                headers={
                    "Authorization": f"Bearer {service_token}",
                    "X-User-Token": user_tokens[slot],
                },
            ) as response:
                body = await response.json()
                if response.status != 201:
                    raise RuntimeError(f"{response.status}: {body}")
            latencies.append(time.perf_counter() - started)
            event = usage_event(users[slot], uuid.UUID(body["reservation_id"]))
            await broker.publish(make_envelope("llm-proxy", users[slot], event))

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    committed = select(func.count()).select_from(Hold).where(Hold.status == "committed")
    done = await wait_for_count(engine, committed, args.pairs, 600)
    return args.pairs / (done - began), latencies


async def bench_events(
    http: aiohttp.ClientSession,
    service: Service,
    broker: Broker,
    engine: AsyncEngine,
    users: list[uuid.UUID],
    count: int,
) -> tuple[float, dict[str, float]]:
    async with engine.connect() as conn:
        before = (await conn.execute(select(func.count()).select_from(UsageRecord))).scalar_one()
    # The queue outlives the stopped service; fill it, then let the service drain it.
    connection = await aio_pika.connect(service.env["AMQP_URL"])
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(USAGE_QUEUE, durable=True)
        await queue.bind(exchange, "usage.recorded")
    envelopes = [
        make_envelope("llm-proxy", users[i % len(users)], usage_event(users[i % len(users)], None))
        for i in range(count)
    ]
    for start in range(0, count, 500):
        await asyncio.gather(*(broker.publish(e) for e in envelopes[start : start + 500]))
    began = time.perf_counter()
    await service.start(http)
    assert service.proc is not None
    pid = service.proc.pid
    # CPU from the first event in the ledger to the last, so start-up does not count.
    first: list[tuple[int, dict[str, float]]] = []

    def note(seen: int) -> None:
        if not first and seen > before:
            first.append((seen, cpu_by_part(pid)))

    done = await wait_for_count(
        engine, select(func.count()).select_from(UsageRecord), before + count, 600, note
    )
    seen, at_first = first[0]
    at_end, applied = cpu_by_part(pid), max(1, before + count - seen)
    per_event = {p: (at_end[p] - at_first[p]) / applied for p in at_end}
    return count / (done - began), per_event


if __name__ == "__main__":
    asyncio.run(main())
