"""The gateway's admission call (EVALSHA) through its own channel and through redis-py.

    python bench/gateway/redis_clients.py [--calls 30000] [--concurrency 64] [--rounds 3]

Starts a redis-server of its own with a plain port and a TLS port (a certificate
made for the run with trustme), then, in this one process, sends the same script
call through ``ScriptChannel`` and through redis-py's asyncio client (hiredis
parser, pooled connections), in the clear and over TLS, ``--concurrency`` callers
at a time. Prints calls per second and the client's CPU per call (this process's
user + system time, divided by the calls): the cost the gateway pays per request.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import trustme
import uvloop
from redis.asyncio import Redis

from tollgate.gateway.admission import ADMIT_SCRIPT
from tollgate.gateway.script_channel import ScriptChannel
from tollgate.shared.testing import free_port

# The seven keys admission sends (bucket, revoked user, session, API key, organization
# plan, the caller's plan, API key scopes); the ones a plain user's call has none of, empty.
KEYS = ["bench:bucket", "bench:nb", "", "", "", "bench:plan", ""]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def drive(call: Callable[[], Awaitable[object]], calls: int, concurrency: int) -> str:
    for _ in range(200):
        await call()  # connect, load the script, warm up
    remaining = calls

    async def caller() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    cpu, wall = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    return f"{calls / wall:,.0f} | {cpu / calls * 1e6:.1f}"


async def measure(args: argparse.Namespace, plain: str, tls: str) -> None:
    # The script's arguments as admission sends them: issued at, limit, plan field, window,
    # scopes, plan, the plan-limits key prefix.
    argv = [0, 1_000_000, "llm_requests_per_minute", 60_000, "", "free", "bench:plans:"]
    print("| round | client | transport | calls/s | client CPU µs/call |")
    print("|---|---|---|---|---|")
    for round_ in range(1, args.rounds + 1):
        for transport, url in (("plain", plain), ("TLS", tls)):
            channel = ScriptChannel(url, timeout=1.0)
            result = await drive(
                lambda c=channel: c.evalsha(ADMIT_SCRIPT, KEYS, argv), args.calls, args.concurrency
            )
            await channel.close()
            print(f"| {round_} | ScriptChannel | {transport} | {result} |")
            client = Redis.from_url(
                url, max_connections=args.concurrency, socket_connect_timeout=10, socket_timeout=10
            )
            script = client.register_script(ADMIT_SCRIPT)
            result = await drive(lambda s=script: s(KEYS, argv), args.calls, args.concurrency)
            await client.aclose()
            print(f"| {round_} | redis-py | {transport} | {result} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=30_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        authority = trustme.CA()
        issued = authority.issue_cert("127.0.0.1")
        ca, cert, key = (Path(folder) / name for name in ("ca.pem", "cert.pem", "key.pem"))
        authority.cert_pem.write_to_path(str(ca))
        issued.cert_chain_pems[0].write_to_path(str(cert))
        issued.private_key_pem.write_to_path(str(key))
        port, tls_port = free_port(), free_port()
        server = subprocess.Popen(
            [
                "redis-server", "--port", str(port), "--tls-port", str(tls_port),
                "--bind", "127.0.0.1", "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no",
                "--save", "", "--appendonly", "no",
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(0.5)
            plain = f"redis://127.0.0.1:{port}/0"
            tls = f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={ca}"
            uvloop.run(measure(args, plain, tls))
        finally:
            server.terminate()
            server.wait(timeout=5)


if __name__ == "__main__":
    main()
