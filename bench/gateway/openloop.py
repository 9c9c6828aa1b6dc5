"""An open-loop load generator: requests leave at a fixed rate, whatever the answers do.

    python openloop.py URL TOKEN RATE SECONDS   ->  one JSON line {rps, p50, p99, errors}

wrk paces per connection, so its connections fire together in bursts; this sends one
request every 1/RATE seconds (the way real clients add up), each on a pooled
keep-alive connection, and measures each from its scheduled start, so a stall is
charged to every request it delayed (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp
import uvloop


async def run(url: str, token: str, rate: float, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(scheduled: float) -> None:
            nonlocal errors
            try:
                async with http.get(url, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            latencies.append(time.perf_counter() - scheduled)

        for _ in range(200):  # warm the pool
            await one(time.perf_counter())
        latencies.clear()
        total = int(rate * seconds)
        start = time.perf_counter()
        tasks = []
        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(scheduled)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    latencies.sort()
    ms = [v * 1000 for v in latencies]
    return {
        "rps": len(ms) / elapsed,
        "p50": ms[len(ms) // 2],
        "p99": ms[int(len(ms) * 0.99)],
        "non2xx": float(errors),
    }


def main() -> None:
    url, token, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    print(json.dumps(uvloop.run(run(url, token, rate, seconds))))


if __name__ == "__main__":
    main()
