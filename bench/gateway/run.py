"""Direct vs through-gateway, the same authenticated request, with wrk on this machine.

    python bench/gateway/run.py [--seconds 15] [--workers 1]

Starts a stand-in service (small JSON answer, serves the JWKS) and the real gateway
(``python -m tollgate.gateway``: JWT check, one Redis round trip for revocation and
rate limit, pooled proxying). Redis and RabbitMQ must be running (scripts/stack.sh).
Two loads: an open-loop generator at a fixed rate (openloop.py, latency) and wrk
flat out (throughput). Installs wrk from Debian's packages if it is missing.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

from redis import Redis

from tollgate.shared.testing import SigningKey, free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PATH = "/api/tokens/balance"
AMQP_URL = os.environ.get(
    "BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/tollgate_test_gateway"
)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk from Debian's packages", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # dpkg's progress goes to stderr with the notice above, not into the results.
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        subprocess.run(command, check=True, env=env, stdout=sys.stderr)
    return shutil.which("wrk") or "wrk"


def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@contextlib.contextmanager
def process(
    args: list[str], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        args,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        # The whole group: a multi-worker gateway has children of its own.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> dict[str, float]:
    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if not match:
            raise RuntimeError(f"no {pct}% latency in wrk output:\n{output}")
        return float(match.group(1)) * _UNITS[match.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50": latency("50"),
        "p99": latency("99"),
        "non2xx": float(errors.group(1)) if errors else 0.0,
    }


def cpu_seconds(group: int) -> float:
    """CPU time (user + system) of every process in a process group, from /proc."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group:  # pgrp
                total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def run_wrk(wrk: str, url: str, token: str, seconds: int, connections: int) -> dict[str, float]:
    args = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-H",
        f"Authorization: Bearer {token}",
        url,
    ]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


def run_open_loop(url: str, token: str, seconds: int, rate: float) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, str(HERE / "openloop.py"), url, token, str(rate), str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--priority",
        type=int,
        default=0,
        help="raise the scheduling priority of every bench process by this much (root only): "
        "on a machine shared with other work, it keeps their load out of the figures",
    )
    args = parser.parse_args()
    if args.priority:
        os.nice(-args.priority)  # inherited by the service, the gateway and wrk
    wrk = ensure_wrk()

    # A Redis of the benchmark's own (same priority, no other suite's traffic), as a
    # production gateway would have; BENCH_REDIS_URL points at another one instead.
    redis_port = free_port()
    redis_url = os.environ.get("BENCH_REDIS_URL", f"redis://127.0.0.1:{redis_port}/0")
    own_redis = None
    if "BENCH_REDIS_URL" not in os.environ:
        own_redis = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(0.5)
    try:
        measure(args, wrk, redis_url)
    finally:
        if own_redis is not None:
            own_redis.terminate()
            own_redis.wait(timeout=10)


def measure(args: argparse.Namespace, wrk: str, redis_url: str) -> None:
    key = SigningKey()
    user = uuid.uuid4()
    token = key.mint(user, plan="enterprise")
    # A plan with room for the whole run: the limit is looked up and applied, never hit.
    redis = Redis.from_url(redis_url)  # sync client: set-up only
    redis.hset(
        f"gw:pl:{user}",
        mapping={
            "sequence": 1,
            "plan": "bench",
            "requests_per_minute": 100_000_000,
            "llm_requests_per_minute": 100_000_000,
        },
    )
    service_port, gateway_port = free_port(), free_port()
    service = f"http://127.0.0.1:{service_port}"
    gateway_env = {
        **os.environ,
        "TOLLGATE_ENV": "development",
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": redis_url,
        "AMQP_URL": AMQP_URL,
        "JWKS_URL": service + "/.well-known/jwks.json",
        "AUTH_INTERNAL_URL": service,
        "GATEWAY_PORT": str(gateway_port),
        "GATEWAY_WORKERS": str(args.workers),
        **{f"GATEWAY_{s}_URL": service for s in ("AUTH", "BILLING", "USAGE", "LLM_PROXY")},
    }
    py = sys.executable
    with (
        process([py, str(HERE / "standin.py"), str(service_port), json.dumps(key.jwk())]) as svc,
        process([py, "-m", "tollgate.gateway"], gateway_env) as gw,
    ):
        wait_http(service + PATH)
        try:
            wait_http(f"http://127.0.0.1:{gateway_port}/healthz")
        except RuntimeError:
            assert gw.stderr is not None
            print(gw.stderr.read().decode(), file=sys.stderr)
            raise
        direct_url, gateway_url = service + PATH, f"http://127.0.0.1:{gateway_port}{PATH}"
        # Warm both paths (pools, JWKS, token cache, Lua script).
        run_wrk(wrk, gateway_url, token, 2, 8)
        run_wrk(wrk, direct_url, token, 2, 8)
        rounds: list[dict[tuple[str, str], dict[str, float]]] = []
        cpu: dict[str, list[float]] = {"service": [], "gateway": []}
        for _ in range(args.rounds):
            results: dict[tuple[str, str], dict[str, float]] = {}
            # Direct and through the gateway back to back, so both see the same machine.
            for label, url in (("direct", direct_url), ("gateway", gateway_url)):
                results[label, "paced"] = run_open_loop(url, token, args.seconds, args.rate)
            for label, url in (("direct", direct_url), ("gateway", gateway_url)):
                groups = (svc.pid,) if label == "direct" else (gw.pid,)
                before = [cpu_seconds(g) for g in groups]
                results[label, "max"] = run_wrk(wrk, url, token, args.seconds, args.connections)
                served = results[label, "max"]["rps"] * args.seconds
                used = cpu_seconds(groups[0]) - before[0]
                cpu["service" if label == "direct" else "gateway"].append(used / served * 1e6)
            rounds.append(results)
    redis.delete(f"gw:pl:{user}")

    def row(results: dict[tuple[str, str], dict[str, float]], mode: str, title: str) -> str:
        d, g = results["direct", mode], results["gateway", mode]
        return (
            f"| {title} | {d['rps']:.0f} | {g['rps']:.0f} | {d['p50']:.2f} | {g['p50']:.2f} "
            f"| {g['p50'] - d['p50']:+.2f} | {d['p99']:.2f} | {g['p99']:.2f} "
            f"| {g['p99'] - d['p99']:+.2f} | {int(g['non2xx'])} |"
        )

    load = os.getloadavg()
    print(
        f"gateway workers: {args.workers}, {args.seconds}s per run, {args.rounds} round(s), "
        f"wrk 1 thread, {os.cpu_count()} CPUs, load average at the end {load[0]:.2f}, "
        f"priority raised by {args.priority}\n"
    )
    print(
        "| load | direct req/s | gateway req/s | direct p50 ms | gateway p50 ms | added p50 ms "
        "| direct p99 ms | gateway p99 ms | added p99 ms | gateway non-2xx |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for i, results in enumerate(rounds, start=1):
        print(row(results, "paced", f"{i}: open loop, {args.rate:.0f} req/s"))
    for i, results in enumerate(rounds, start=1):
        print(row(results, "max", f"{i}: flat out, {args.connections} connections"))
    service_cpu = statistics.median(cpu["service"])
    gateway_cpu = statistics.median(cpu["gateway"])
    print(
        f"\nCPU per request (flat out): service {service_cpu:.0f} us, "
        f"gateway {gateway_cpu:.0f} us -> about {1e6 / gateway_cpu:.0f} req/s per core "
        "for the gateway alone"
    )


if __name__ == "__main__":
    main()
