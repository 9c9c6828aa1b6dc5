"""What lending a pooled connection costs: the services' engine against SQLAlchemy's
``pool_pre_ping``, side by side in one run, against the real PostgreSQL.

    .venv/bin/python bench/db/run.py [--checkouts 3000] [--rounds 3]

Each checkout is what a request does with the database at least once: take a connection
from the pool, run one statement (``SELECT 1``), give it back. The two engines alternate
round by round on one database (``shared_test``, asked only ``SELECT 1``), so a noisy
minute falls on both. The figures are wall time and this process's CPU per checkout;
PostgreSQL's share is not counted (the ping is one more transaction a checkout there).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tollgate.shared.db import create_engine
from tollgate.shared.testing import test_database_url

ENGINES: dict[str, Callable[[str], AsyncEngine]] = {
    "pool_pre_ping": lambda url: create_async_engine(url, pool_size=5, pool_pre_ping=True),
    "tollgate (closed-socket check)": lambda url: create_engine(url, pool_size=5),
}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def checkouts(engine: AsyncEngine, n: int) -> tuple[float, float]:
    """Seconds of wall time and of CPU per checkout."""
    async with engine.connect() as conn:  # the pool's connection made outside the timing
        await conn.execute(text("SELECT 1"))
    wall, cpu = time.perf_counter(), cpu_seconds()
    for _ in range(n):
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    return (time.perf_counter() - wall) / n, (cpu_seconds() - cpu) / n


async def run(args: argparse.Namespace) -> None:
    url = test_database_url("shared")
    seen: dict[str, list[tuple[float, float]]] = {name: [] for name in ENGINES}
    for _ in range(args.rounds):
        for name, make in ENGINES.items():
            engine = make(url)
            try:
                seen[name].append(await checkouts(engine, args.checkouts))
            finally:
                await engine.dispose()
    print(f"{args.checkouts} checkouts x {args.rounds} rounds per engine, alternated\n")
    print("| engine | wall µs per checkout | CPU µs per checkout (this process) |")
    print("|---|---|---|")
    for name, figures in seen.items():
        wall = statistics.median(w for w, _ in figures) * 1e6
        cpu = statistics.median(c for _, c in figures) * 1e6
        print(f"| {name} | {wall:.0f} | {cpu:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkouts", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
