"""The LLM path's added latency and throughput: a stand-in upstream, direct vs through the stack.

    python bench/llm/run.py [--no-gateway] [--calls 3000] [--workers 1]

Starts, each in its own process: the stand-ins (an OpenAI-speaking upstream; and
usage's reservation contract settling holds from RabbitMQ, with a JWKS), the real LLM
proxy (``python -m tollgate.llm_proxy``: JWT check, prompt count, a hold at usage,
the upstream call, a request-log row and ``usage.recorded`` through the outbox),
and unless ``--no-gateway`` the real gateway in front of it. PostgreSQL, Redis and
RabbitMQ must be running (scripts/stack.sh); the proxy uses the development
database ``llm_proxy`` and the ``tollgate`` vhost.

Measures, with an aiohttp client in this process:
  * streams (20 chunks) at 50 and 200 concurrent clients: time to first byte and
    total latency, p50/p99, direct and through the path, and the difference;
  * non-streamed calls/s at 64 concurrent clients through the path.
Prints a Markdown table; results are recorded in bench/llm/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
from redis import Redis

from tollgate.shared.testing import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PASSWORD = os.environ.get("TOLLGATE_DB_PASSWORD", "tollgate")
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL",
    f"postgresql+asyncpg://tollgate_llm_proxy:{PASSWORD}@127.0.0.1:5432/llm_proxy",
)
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/tollgate")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
WORDS = 20
CHUNK_DELAY_MS = 25  # set by --chunk-delay-ms: a model's pace between tokens


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@contextlib.contextmanager
def process(
    args: list[str], env: dict[str, str] | None = None, stdout: int = subprocess.DEVNULL
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        args, env=env, cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (uvicorn workers), from /proc.

    ``os.getpid()`` stands for the load generator alone (its children are the others).
    """
    if pid == os.getpid():
        return time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        pids.append(int(entry))
    total = 0.0
    for one in pids:
        with contextlib.suppress(OSError), open(f"/proc/{one}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


class CpuMeter:
    """CPU per call of the processes on the path: the bench's main cost figure on a busy box."""

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = processes

    def start(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.processes.items()}

    def per_call(self, before: dict[str, float], calls: int) -> str:
        spent = {name: cpu_seconds(pid) - before[name] for name, pid in self.processes.items()}
        spent["all"] = sum(spent.values())
        return ", ".join(f"{name} {1000 * cpu / calls:.2f}" for name, cpu in spent.items())


CLOCKS = ("tollgate_llm_hold_seconds", "tollgate_llm_time_to_first_token_seconds")


def proxy_clocks(metrics_url: str) -> dict[str, float]:
    """The proxy's own timing histograms (sums and counts): where a call's time went inside it."""
    with urllib.request.urlopen(metrics_url) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(CLOCKS):
            key, _, value = line.rpartition(" ")
            for label in ('model="bench-model",', ',model="bench-model"', '{model="bench-model"}'):
                key = key.replace(label, "")
            values[key] = values.get(key, 0.0) + float(value)
    return values


def clock_means(before: dict[str, float], after: dict[str, float]) -> str:
    """Mean and (bucket upper bound of the) median of each clock between two scrapes."""
    out = []
    for name, label in zip(CLOCKS, ("hold at usage", "request to first token"), strict=True):
        count = after.get(name + "_count", 0) - before.get(name + "_count", 0)
        if not count:
            continue
        total = after.get(name + "_sum", 0) - before.get(name + "_sum", 0)
        buckets = sorted(
            (float(key.split('le="')[1].rstrip('"}')), after[key] - before.get(key, 0))
            for key in after
            if key.startswith(name + "_bucket") and "+Inf" not in key
        )
        median = next((bound for bound, seen in buckets if seen >= count / 2), float("inf"))
        out.append(f"{label} mean {1000 * total / count:.2f} ms, median <= {1000 * median:g} ms")
    return "; ".join(out)


def fetch_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url) as response:
        return dict(json.loads(response.read()))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


async def one_stream(
    http: aiohttp.ClientSession, url: str, token: str, model: str
) -> tuple[float, float]:
    body = {
        "model": model,
        "stream": True,
        "messages": [
            {"role": "user", "content": f"bench [[words:{WORDS}]] [[delay:{CHUNK_DELAY_MS}]]"}
        ],
    }
    start = time.perf_counter()
    async with http.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        if resp.status != 200:
            raise RuntimeError(f"{url}: {resp.status} {await resp.text()}")
        first = None
        async for _chunk in resp.content.iter_any():
            if first is None:
                first = time.perf_counter()
        end = time.perf_counter()
    return ((first or end) - start) * 1000, (end - start) * 1000


async def one_call(http: aiohttp.ClientSession, url: str, token: str, model: str) -> float:
    body = {"model": model, "messages": [{"role": "user", "content": "bench [[words:5]]"}]}
    start = time.perf_counter()
    async with http.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{url}: {resp.status} {await resp.text()}")
    return (time.perf_counter() - start) * 1000


async def load(fn: Any, calls: int, concurrency: int, *args: Any) -> tuple[list[Any], float]:
    results: list[Any] = []
    counter = iter(range(calls))
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=60)
    ) as http:

        async def worker() -> None:
            for _ in counter:
                results.append(await fn(http, *args))

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return results, elapsed


@contextlib.contextmanager
def profiled(pid: int | None, out: str | None) -> Iterator[None]:
    """py-spy samples the process (and its workers) while the block runs, when asked to."""
    if pid is None or out is None:
        yield
        return
    spy = subprocess.Popen(
        ["py-spy", "record", "-p", str(pid), "--subprocesses", "-r", "200", "-f", "raw",
         "-o", out, "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=30)


async def bench(
    paths: dict[str, tuple[str, str]],
    users: list[list[str]],
    calls: int,
    stats_url: str,
    meters: dict[str, CpuMeter],
    stream_clients: list[int],
    profile: str | None = None,
) -> list[str]:
    token = users[0][1]
    lines = []
    for base, model in paths.values():  # warm pools, JWKS caches, service token
        await load(one_stream, 200, 20, base + "/v1/chat/completions", token, model)
    clocks_url = paths["llm-proxy"][0] + "/metrics"
    notes = []
    for concurrency in stream_clients:
        measured = {}
        cpu = {}
        for label, (base, model) in paths.items():
            clocks = await asyncio.to_thread(proxy_clocks, clocks_url)
            before = meters[label].start()
            out = f"{profile}-streams{concurrency}-{label.replace(' + ', '-')}.raw"
            with profiled(meters[label].processes.get("llm-proxy"), out if profile else None):
                results, _ = await load(
                    one_stream, calls, concurrency, base + "/v1/chat/completions", token, model
                )
            cpu[label] = meters[label].per_call(before, len(results))
            measured[label] = ([r[0] for r in results], [r[1] for r in results])
            if label != "direct":
                after = await asyncio.to_thread(proxy_clocks, clocks_url)
                notes.append(
                    f"streams, {concurrency} clients, {label}, inside the proxy: "
                    + clock_means(clocks, after)
                )
        d_ttfb, d_total = measured["direct"]
        for label in paths:
            if label == "direct":
                continue
            ttfb, total = measured[label]

            def span(values: list[float]) -> str:
                return f"{pct(values, 0.5):.2f} / {pct(values, 0.99):.2f}"

            def added(path: list[float], direct: list[float]) -> str:
                p50 = pct(path, 0.5) - pct(direct, 0.5)
                return f"{p50:+.2f} / {pct(path, 0.99) - pct(direct, 0.99):+.2f}"

            lines.append(
                f"| streams, {concurrency} clients | {label} | {span(d_ttfb)} | {span(ttfb)} "
                f"| **{added(ttfb, d_ttfb)}** | {span(d_total)} | {span(total)} "
                f"| {added(total, d_total)} | {cpu[label]} |"
            )
    for label, (base, model) in paths.items():
        before = meters[label].start()
        out = f"{profile}-one-{label.replace(' + ', '-')}.raw" if profile else None
        with profiled(meters[label].processes.get("llm-proxy"), out):
            results, elapsed = await load(
                one_call, 300, 1, base + "/v1/chat/completions", token, model
            )
        lines.append(
            f"| non-streamed, one client | {label} | {len(results) / elapsed:.0f} calls/s "
            f"| p50 {statistics.median(results):.2f} ms, p99 {pct(results, 0.99):.2f} ms "
            f"| {meters[label].per_call(before, len(results))} |"
        )
    for label, (base, model) in paths.items():
        before = meters[label].start()
        out = f"{profile}-{label.replace(' + ', '-')}.raw" if profile else None
        with profiled(meters[label].processes.get("llm-proxy"), out):
            results, elapsed = await load(
                one_call, calls * 2, 64, base + "/v1/chat/completions", token, model
            )
        lines.append(
            f"| non-streamed, 64 clients | {label} | {len(results) / elapsed:.0f} calls/s "
            f"| p50 {statistics.median(results):.2f} ms, p99 {pct(results, 0.99):.2f} ms "
            f"| {meters[label].per_call(before, len(results))} |"
        )
    for _ in range(300):  # settlement: every hold committed by its usage.recorded event
        stats = await asyncio.to_thread(fetch_json, stats_url)
        if stats["open_holds"] == 0:
            break
        await asyncio.sleep(0.1)
    lines.extend(["", *notes])
    lines.append(
        f"\nholds taken: {stats['holds']}, still open: {stats['open_holds']}, "
        f"usage events: {stats['events']}, anomalies: {stats['anomalies']}"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--no-gateway", action="store_true")
    parser.add_argument("--workers", type=int, default=1, help="gateway workers")
    parser.add_argument("--proxy-workers", type=int, default=1, help="LLM proxy workers")
    parser.add_argument(
        "--stream-clients", default="50,200", help="concurrency levels of the stream rows"
    )
    parser.add_argument(
        "--profile",
        metavar="PREFIX",
        help="py-spy the proxy during each row into PREFIX-<row>-<path>.raw",
    )
    parser.add_argument(
        "--chunk-delay-ms",
        type=int,
        default=CHUNK_DELAY_MS,
        help="upstream pause between stream chunks",
    )
    args = parser.parse_args()
    globals()["CHUNK_DELAY_MS"] = args.chunk_delay_ms
    py = sys.executable

    with (
        process([py, str(HERE / "standins.py"), "upstream"], stdout=subprocess.PIPE) as upstream,
        process([py, str(HERE / "standins.py"), "usage", "4"], stdout=subprocess.PIPE) as usage,
    ):
        assert upstream.stdout is not None and usage.stdout is not None
        info = json.loads(upstream.stdout.readline()) | json.loads(usage.stdout.readline())
        proxy_port, gateway_port = free_port(), free_port()
        catalog = {
            "providers": {"bench": {"kind": "openai", "base_url": info["upstream"] + "/v1"}},
            "models": {
                "bench-model": {
                    "plans": ["*"],
                    "max_output_tokens": 4096,
                    "deployments": [
                        {
                            "provider": "bench",
                            "model": "m",
                            "input_per_million": "1",
                            "output_per_million": "2",
                        }
                    ],
                }
            },
        }
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(catalog, f)
        env = {
            **os.environ,
            "TOLLGATE_ENV": "development",
            "LOG_LEVEL": "WARNING",
            "AMQP_URL": AMQP_URL,
            "REDIS_URL": REDIS_URL,
            "JWKS_URL": info["jwks"],
            "AUTH_INTERNAL_URL": info["usage"],
            "LLM_PROXY_PORT": str(proxy_port),
            "LLM_PROXY_WORKERS": str(args.proxy_workers),
            "LLM_PROXY_DATABASE_URL": DATABASE_URL,
            "LLM_PROXY_USAGE_URL": info["usage"],
            "LLM_PROXY_PROVIDERS_FILE": f.name,
            "LLM_PROXY_CLIENT_SECRET": "bench-only-secret",
            "GATEWAY_PORT": str(gateway_port),
            "GATEWAY_WORKERS": str(args.workers),
            "GATEWAY_LLM_PROXY_URL": f"http://127.0.0.1:{proxy_port}",
            **{f"GATEWAY_{s}_URL": info["usage"] for s in ("AUTH", "BILLING", "USAGE")},
        }
        subprocess.run(
            [py, "-m", "tollgate.llm_proxy", "migrate"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        paths = {"direct": (info["upstream"], "m")}
        client = os.getpid()
        meters = {"direct": CpuMeter({"upstream": upstream.pid, "client": client})}
        with contextlib.ExitStack() as stack:
            proxy = stack.enter_context(process([py, "-m", "tollgate.llm_proxy"], env))
            try:
                wait_http(f"http://127.0.0.1:{proxy_port}/readyz")
            except RuntimeError:
                assert proxy.stderr is not None
                print(proxy.stderr.read().decode()[-3000:], file=sys.stderr)
                raise
            paths["llm-proxy"] = (f"http://127.0.0.1:{proxy_port}", "bench-model")
            meters["llm-proxy"] = CpuMeter(
                {
                    "llm-proxy": proxy.pid,
                    "usage": usage.pid,
                    "upstream": upstream.pid,
                    "client": client,
                }
            )
            if not args.no_gateway:
                redis = Redis.from_url(REDIS_URL)
                for user, _ in info["users"]:
                    redis.hset(
                        f"gw:pl:{user}",
                        mapping={
                            "sequence": 1,
                            "plan": "bench",
                            "requests_per_minute": 100_000_000,
                            "llm_requests_per_minute": 100_000_000,
                        },
                    )
                gateway = stack.enter_context(process([py, "-m", "tollgate.gateway"], env))
                wait_http(f"http://127.0.0.1:{gateway_port}/healthz")
                meters["gateway + llm-proxy"] = CpuMeter(
                    {"llm-proxy": proxy.pid, "gateway": gateway.pid, "usage": usage.pid,
                     "upstream": upstream.pid, "client": client}
                )  # fmt: skip
                paths["gateway + llm-proxy"] = (f"http://127.0.0.1:{gateway_port}", "bench-model")
            stream_clients = [int(c) for c in args.stream_clients.split(",") if c]
            lines = asyncio.run(
                bench(
                    paths, info["users"], args.calls, info["stats"], meters, stream_clients,
                    args.profile,
                )
            )  # fmt: skip
        os.unlink(f.name)

    print(
        f"{args.calls} streams per row ({WORDS} chunks, {args.chunk_delay_ms} ms apart); "
        f"non-streamed: {args.calls * 2} calls; times in ms, p50 / p99\n"
    )
    print(
        "| load | path | direct TTFB | path TTFB | added TTFB | direct total | path total "
        "| added total | CPU ms per call |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
