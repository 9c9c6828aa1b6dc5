"""The LLM path's added latency, throughput and CPU per call: direct, LiteLLM, Tollgate.

    python bench/llm/run.py [--calls 300] [--clients 50] [--rounds 4] [--usage-standin]
                            [--no-litellm] [--proxy-alone] [--profile PREFIX]

Starts, each in its own process: the stand-in upstream (OpenAI protocol) and auth's
keys (``standins.py``); the real usage service (``python -m tollgate.usage``: holds in
PostgreSQL, settlement from ``usage.recorded`` through RabbitMQ), the real LLM proxy
(JWT check, offline prompt count, a hold at usage, the upstream call, the request-log
row and ``usage.recorded`` through the outbox) and the real gateway in front of it.
With ``--usage-standin`` an in-memory usage takes the real one's place (labelled in
the output). When ``.run/bench-litellm`` holds LiteLLM (``make bench-litellm``
installs it there), the LiteLLM proxy runs beside them as the peer: one worker, no
database, nothing to account.

Every figure comes from one run with the targets interleaved: each load is measured
in ``--rounds`` rounds, and each round runs every target in turn, so a noisy minute
on the shared machine falls on all of them. Prints a Markdown table (added latency
against direct, calls/s, CPU per call of every process on the path, PostgreSQL and
RabbitMQ included) and the same as ratios to direct and to LiteLLM, then checks the
ledger: every hold settled, usage's records equal to the proxy's request log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import asyncpg
import httpx
from redis import Redis

from tollgate.shared.messaging import Broker, make_envelope
from tollgate.shared.messaging.events import SubscriptionChanged
from tollgate.shared.testing import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LITELLM = ROOT / ".run" / "bench-litellm" / "bin" / "litellm"
PASSWORD = os.environ.get("TOLLGATE_DB_PASSWORD", "tollgate")
DATABASES = {
    name: os.environ.get(
        f"BENCH_{name.upper()}_DATABASE_URL",
        f"postgresql+asyncpg://tollgate_{name}:{PASSWORD}@127.0.0.1:5432/{name}",
    )
    for name in ("llm_proxy", "usage")
}
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/tollgate")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
USERS = 4
TOLLGATE = "gateway + llm-proxy"


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            assert proc.stderr is not None
            print(proc.stderr.read().decode()[-3000:], file=sys.stderr)
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
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
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# ---------------------------------------------------------------------------- CPU


def _processes() -> Iterator[tuple[int, int, str, float]]:
    """(pid, parent pid, command line, CPU seconds) of every process on the machine."""
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        yield int(entry), int(fields[1]), cmdline, (int(fields[11]) + int(fields[12])) / tick


def _postgres_part(cmdline: str, databases: set[str]) -> bool:
    """PostgreSQL's shared processes, and the backends serving the bench's databases.

    A backend's title is ``postgres: 15/main: <user> <database> <client> <state>``;
    backends of other databases (other engineers' test suites) are not the path's."""
    if not cmdline.startswith("postgres"):
        return False
    words = cmdline.split(": ", 2)[-1].split()
    is_backend = len(words) >= 3 and ("(" in words[2] or words[2] == "[local]")
    return not is_backend or words[1] in databases


def cpu_by_part(parts: dict[str, int], databases: set[str]) -> dict[str, float]:
    """CPU seconds so far of each named process (with its children), of PostgreSQL
    (see ``_postgres_part``) and of RabbitMQ (the whole broker: it is shared)."""
    spent = dict.fromkeys(parts, 0.0)
    owner = {pid: name for name, pid in parts.items() if pid and name != "client"}
    listing = list(_processes())
    parent_of = {pid: ppid for pid, ppid, _, _ in listing}
    for pid, _, cmdline, cpu in listing:
        if pid == os.getpid():
            continue
        ancestor, hops = pid, 0
        while ancestor not in owner and ancestor > 1 and hops < 4:
            ancestor, hops = parent_of.get(ancestor, 0), hops + 1
        if ancestor in owner:
            spent[owner[ancestor]] += cpu
        elif "PostgreSQL" in parts and _postgres_part(cmdline, databases):
            spent["PostgreSQL"] += cpu
        elif "RabbitMQ" in parts and ("beam.smp" in cmdline or "erl_child_setup" in cmdline):
            spent["RabbitMQ"] += cpu
    if "client" in parts:
        spent["client"] = time.process_time()
    return spent


@dataclass
class Target:
    """One way to reach the upstream, and the processes it takes."""

    label: str
    base: str
    model: str
    parts: dict[str, int]
    databases: set[str] = field(default_factory=set)
    # Waits until usage has recorded and charged this many more calls than when called
    # (the money of every call settled); counted in the calls' CPU.
    recorded: Callable[[int], Awaitable[Callable[[], Awaitable[None]]]] | None = None
    # Waits until every hold is closed: leases are given back once idle, so this is
    # mostly idle time, counted apart (``cpu_closed``).
    settled: Callable[[], Awaitable[None]] | None = None
    clocks: Clocks | None = None  # the services' own timings
    keys: list[str] | None = None  # what its callers send, when not the users' access tokens
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)  # load -> part -> seconds
    cpu_closed: dict[str, dict[str, float]] = field(default_factory=dict)  # to holds closed
    calls: dict[str, int] = field(default_factory=dict)

    def meter(self) -> dict[str, float]:
        return cpu_by_part(self.parts, self.databases)

    def add_cpu(
        self, load: str, before: dict[str, float], calls: int, *, closed: bool = False
    ) -> None:
        after = self.meter()
        kept = self.cpu_closed if closed else self.cpu
        spent = kept.setdefault(load, dict.fromkeys(self.parts, 0.0))
        for part in self.parts:
            spent[part] += after[part] - before[part]
        if not closed:
            self.calls[load] = self.calls.get(load, 0) + calls

    def cpu_ms(self, load: str, *, closed: bool = False) -> dict[str, float]:
        """CPU ms per call by process, until the calls were recorded; with ``closed``,
        until every hold was closed too (the leases' idle wait included)."""
        spent = dict(self.cpu[load])
        if closed:
            for part, seconds in self.cpu_closed.get(load, {}).items():
                spent[part] += seconds
        per = {p: 1000 * s / self.calls[load] for p, s in spent.items()}
        # The path: what the target runs between the client and the provider. The load
        # generator and the stand-in provider are the same for every target.
        path = sum(ms for p, ms in per.items() if p not in OUTSIDE_THE_PATH)
        per["all"] = sum(per.values())
        per["path"] = path
        return per


# ---------------------------------------------------------------------------- load


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


STREAM_WORDS, STREAM_DELAY_MS = 10, 5
# A person at an editor: completions seconds apart, each after a pause (not timed).
PACE_SECONDS = 1.5
OUTSIDE_THE_PATH = frozenset({"upstream", "client"})


async def one_stream(http: aiohttp.ClientSession, url: str, token: str, model: str) -> float:
    """Time to the first byte of a stream's body, in ms (the stream is read to its end)."""
    content = f"bench [[words:{STREAM_WORDS}]] [[delay:{STREAM_DELAY_MS}]]"
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": content}]}
    start = time.perf_counter()
    async with http.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        if resp.status != 200:
            raise RuntimeError(f"{url}: {resp.status} {await resp.text()}")
        first = None
        async for _chunk in resp.content.iter_any():
            if first is None:
                first = time.perf_counter()
    return ((first or time.perf_counter()) - start) * 1000


async def one_call(http: aiohttp.ClientSession, url: str, token: str, model: str) -> float:
    body = {"model": model, "messages": [{"role": "user", "content": "bench [[words:5]]"}]}
    start = time.perf_counter()
    async with http.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{url}: {resp.status} {await resp.text()}")
    return (time.perf_counter() - start) * 1000


async def load(
    fn: Any,
    calls: int,
    concurrency: int,
    url: str,
    tokens: list[str],
    model: str,
    pause: float = 0.0,
) -> tuple[list[float], float]:
    results: list[float] = []
    counter = iter(range(calls))
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=60)
    ) as http:

        async def worker(token: str) -> None:
            for _ in counter:
                if pause:
                    await asyncio.sleep(pause)  # a person's pace; not in the call's time
                results.append(await fn(http, url, token, model))

        start = time.perf_counter()
        await asyncio.gather(*(worker(tokens[i % len(tokens)]) for i in range(concurrency)))
        elapsed = time.perf_counter() - start
    return results, elapsed


@contextlib.contextmanager
def profiled(pids: dict[str, int], out: str | None) -> Iterator[None]:
    """py-spy samples each Python process of the path while the block runs, when asked."""
    if out is None:
        yield
        return
    spies = [
        subprocess.Popen(
            [
                "py-spy",
                "record",
                "-p",
                str(pid),
                "--subprocesses",
                "-r",
                "200",
                "-f",
                "raw",
                "-o",
                f"{out}-{name}.raw",
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
        if name in ("gateway", "llm-proxy", "usage", "litellm")
    ]
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            spy.wait(timeout=30)


Results = dict[str, dict[str, tuple[list[float], float]]]  # load -> target -> (ms, seconds)


@dataclass
class Load:
    name: str
    fn: Any
    calls: int  # per target, over every round
    concurrency: int
    pause: float = 0.0  # seconds before each call (a paced caller)


CLOCKS = {  # series (sum and count) -> what it times, in each service's /metrics
    "tollgate_http_request_duration_seconds": "to the answer's start",
    "tollgate_llm_hold_seconds": "asking usage for the hold",
    "tollgate_llm_record_seconds": "committing the log row and event",
}


def scrape(url: str) -> dict[str, float]:
    """Sums and counts of the CLOCKS series of one service (POST routes only)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        for clock in CLOCKS:
            if name in (clock + "_sum", clock + "_count"):
                if "http_request" in clock and 'method="POST"' not in line:
                    continue
                key = clock + name[len(clock) :]
                values[key] = values.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return values


@dataclass
class Clocks:
    """Where a call's time goes, from the path's own clocks: mean ms per call."""

    services: dict[str, str]  # name -> /metrics URL
    totals: dict[str, dict[str, float]] = field(default_factory=dict)  # load -> key -> seconds

    def read(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, url in self.services.items():
            for key, value in scrape(url).items():
                out[f"{name}: {key}"] = value
        return out

    def add(self, load: str, before: dict[str, float], after: dict[str, float]) -> None:
        totals = self.totals.setdefault(load, {})
        for key, value in after.items():
            totals[key] = totals.get(key, 0.0) + value - before.get(key, 0.0)

    def means(self, load: str) -> str:
        totals, out = self.totals.get(load, {}), []
        for key in sorted(k for k in totals if k.endswith("_sum")):
            count = totals.get(key[: -len("_sum")] + "_count", 0.0)
            if count:
                service, clock = key[: -len("_sum")].split(": ")
                what = CLOCKS[clock]
                out.append(f"{service}, {what}: {1000 * totals[key] / count:.2f}")
        return "; ".join(out)


COMMITS = "SELECT datname, xact_commit FROM pg_stat_database WHERE datname = ANY($1)"


async def commits(databases: set[str]) -> dict[str, int]:
    """Transactions committed so far in each database (PostgreSQL's statistics)."""
    conn = await asyncpg.connect(DATABASES["llm_proxy"].replace("+asyncpg", ""))
    try:
        return {row[0]: int(row[1]) for row in await conn.fetch(COMMITS, sorted(databases))}
    finally:
        await conn.close()


async def measure(
    targets: list[Target],
    loads: list[Load],
    tokens: list[str],
    rounds: int,
    profile: str | None,
    ledger: Ledger | None,
) -> tuple[Results, dict[str, dict[str, float]]]:
    """Each load in rounds; in each round every target in turn (interleaved).

    Also the commits per call in each database of the path, for each load: counted
    from the load's start until its statistics are flushed (a second after its end),
    less the bench's own polls; the services' idle work (outbox relays polling each
    second, usage's sweeper) is in the count, a few hundredths per call."""
    results: Results = {}
    per_call: dict[str, dict[str, float]] = {}
    databases = set().union(*(t.databases for t in targets))
    for target in targets:  # warm pools, JWKS caches, service tokens, accounts
        url, keys = target.base + "/v1/chat/completions", target.keys or tokens
        await load(one_call, 50, 4, url, keys, target.model)
        if target.settled is not None:
            await target.settled()
    for spec in loads:
        per_round = max(1, spec.calls // rounds)
        counted = await commits(databases) if databases else {}
        polls = ledger.polls if ledger else 0
        for r in range(rounds):
            order = targets if r % 2 == 0 else targets[::-1]
            for target in order:
                ticks = await asyncio.to_thread(target.clocks.read) if target.clocks else {}
                recorded = await target.recorded(per_round) if target.recorded else None
                before = target.meter()
                out = None
                if profile and r == 0:
                    out = f"{profile}-{spec.name.replace(' ', '-')}-{target.label.replace(' ', '')}"
                with profiled(target.parts, out):
                    latencies, elapsed = await load(
                        spec.fn, per_round, spec.concurrency,
                        target.base + "/v1/chat/completions", target.keys or tokens, target.model,
                        spec.pause,
                    )  # fmt: skip
                    if recorded is not None:
                        await recorded()  # every call's settlement is part of its cost
                target.add_cpu(spec.name, before, len(latencies))
                if target.settled is not None:
                    before = target.meter()
                    await target.settled()  # the next round starts with no lease
                    target.add_cpu(spec.name, before, 0, closed=True)
                if target.clocks is not None:
                    target.clocks.add(spec.name, ticks, await asyncio.to_thread(target.clocks.read))
                seen, seconds = results.setdefault(spec.name, {}).get(target.label, ([], 0.0))
                results[spec.name][target.label] = (seen + latencies, seconds + elapsed)
        if databases:
            await asyncio.sleep(1.5)  # backends report their counts at most once a second
            now = await commits(databases)
            calls = sum(len(results[spec.name][t.label][0]) for t in targets if t.databases)
            mine = {"usage": (ledger.polls - polls) if ledger else 0}
            per_call[spec.name] = {
                db: (now[db] - counted[db] - mine.get(db, 0)) / calls for db in sorted(now)
            }
    return results, per_call


# ---------------------------------------------------------------------------- the ledger


T = TypeVar("T")


class Ledger:
    """What usage settled and the proxy recorded for the bench users, from both databases."""

    def __init__(self, users: list[str]) -> None:
        self.users = [uuid.UUID(u) for u in users]
        self.polls = 0  # transactions of our own in usage's database, for the commit count
        self._conns: dict[str, asyncpg.Connection] = {}

    async def _conn(self, name: str) -> asyncpg.Connection:
        """One connection per database for the bench's own questions, kept until
        ``closing`` ends: a connection a question forked a PostgreSQL backend each time,
        inside the CPU window being measured."""
        if name not in self._conns:
            self._conns[name] = await asyncpg.connect(DATABASES[name].replace("+asyncpg", ""))
        return self._conns[name]

    async def closing(self, work: Awaitable[T]) -> T:
        """``work``, then the connections it opened closed (they serve one event loop)."""
        try:
            return await work
        finally:
            conns, self._conns = self._conns, {}
            for conn in conns.values():
                await conn.close()

    async def _one(self, name: str, query: str, *args: Any) -> asyncpg.Record:
        return await (await self._conn(name)).fetchrow(query, *args)

    OPEN = "SELECT count(*) FROM holds WHERE status = 'held' AND user_id = ANY($1)"

    async def open_holds(self) -> int:
        return int((await self._one("usage", self.OPEN, self.users))[0])

    async def figures(self) -> dict[str, int]:
        usage = await self._one(
            "usage",
            "SELECT count(*), coalesce(sum(total_tokens), 0), coalesce(sum(charged_credits), 0),"
            " coalesce(sum(uncharged_credits), 0) FROM usage_records WHERE user_id = ANY($1)",
            self.users,
        )
        spent = await self._one(
            "usage",
            "SELECT coalesce(-sum(amount), 0) FROM ledger_entries"
            " WHERE account_id = ANY($1) AND kind = 'spend'",
            self.users,
        )
        holds = await self._one(
            "usage", "SELECT count(*) FROM holds WHERE user_id = ANY($1)", self.users
        )
        proxy = await self._one(
            "llm_proxy",
            "SELECT count(*), coalesce(sum(total_tokens), 0) FROM request_log"
            " WHERE user_id = ANY($1)",
            self.users,
        )
        return {
            "holds": int(holds[0]),
            "usage records": int(usage[0]),
            "usage tokens": int(usage[1]),
            "credits charged": int(usage[2]),
            "credits uncharged": int(usage[3]),
            "credits spent from grants": int(spent[0]),
            "request log rows": int(proxy[0]),
            "request log tokens": int(proxy[1]),
        }

    RECORDED = "SELECT count(*) FROM usage_records WHERE user_id = ANY($1)"

    async def recorded(self, calls: int) -> Callable[[], Awaitable[None]]:
        """A wait for usage to have recorded ``calls`` more calls than it has now."""
        self.polls += 1
        expected = int((await self._one("usage", self.RECORDED, self.users))[0]) + calls

        async def wait() -> None:
            await self._poll(self.RECORDED, lambda count: count >= expected, "calls unrecorded")

        return wait

    async def settled(self) -> None:
        await self._poll(self.OPEN, lambda count: count == 0, "holds still open")

    async def _poll(self, query: str, done: Callable[[int], bool], what: str) -> None:
        deadline = time.monotonic() + 60
        conn = await self._conn("usage")
        while True:
            self.polls += 1
            if done(int(await conn.fetchval(query, self.users))):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} a minute after the last call")
            await asyncio.sleep(0.02)


def price_bench_model(usage_url: str, admin_token: str) -> None:
    """The bench's model at the reference price (a credit a token), set as an admin sets
    it: usage refuses to hold credits for a model without a price."""
    answer = httpx.put(
        f"{usage_url}/api/admin/model-prices/bench-model",
        json={"input_per_million": 1_000_000, "output_per_million": 1_000_000},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=10,
    )
    if answer.status_code != 200:
        raise RuntimeError(f"pricing bench-model at usage: {answer.status_code} {answer.text}")


async def fund(users: list[str]) -> None:
    """A large allocation for each bench user (the event usage applies; newest wins)."""
    broker = Broker(AMQP_URL)
    await broker.connect()
    try:
        sequence = time.time_ns() // 1000
        for user in users:
            account = uuid.UUID(user)
            await broker.publish(
                make_envelope(
                    "bench",
                    account,
                    SubscriptionChanged(
                        account_id=account,
                        user_id=account,
                        plan="enterprise",
                        status="active",
                        current_period_start=datetime.now(UTC),
                        current_period_end=datetime(2099, 1, 1, tzinfo=UTC),
                        monthly_tokens=10**15,
                        sequence=sequence,
                    ),
                )
            )
    finally:
        await broker.close()


# ---------------------------------------------------------------------------- report


def report(
    targets: list[Target],
    loads: list[Load],
    results: Results,
    commits_per_call: dict[str, dict[str, float]],
    rounds: int,
) -> list[str]:
    labels = [t.label for t in targets]
    by_label = {t.label: t for t in targets}
    lines = [
        "| load | target | calls/s | p50 ms | p99 ms | added p50 / p99 ms | CPU ms per call |",
        "|---|---|---|---|---|---|---|",
    ]
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for spec in loads:
        direct = results[spec.name]["direct"][0]
        for label in labels:
            latencies, seconds = results[spec.name][label]
            cpu = by_label[label].cpu_ms(spec.name)
            closed = by_label[label].cpu_ms(spec.name, closed=True)
            p50, p99 = pct(latencies, 0.5), pct(latencies, 0.99)
            added = f"{p50 - pct(direct, 0.5):+.2f} / {p99 - pct(direct, 0.99):+.2f}"
            figures.setdefault(spec.name, {})[label] = {
                "rate": len(latencies) / seconds,
                "p50": p50 - pct(direct, 0.5),
                "p99": p99 - pct(direct, 0.99),
                "cpu": cpu["all"],
                "path cpu": cpu["path"],
                "path cpu closed": closed["path"],
            }
            parts = ", ".join(f"{p} {ms:.2f}" for p, ms in cpu.items() if p != "path")
            if label != "direct":
                parts += f"; path {cpu['path']:.2f}"
            if by_label[label].cpu_closed:
                parts += f" ({closed['path']:.2f} until every hold closed)"
            lines.append(
                f"| {spec.name} | {label} | {len(latencies) / seconds:.0f} | {p50:.2f} "
                f"| {p99:.2f} | {'—' if label == 'direct' else added} | {parts} |"
            )
    peers = [label for label in labels if label != "direct"]
    lines += [
        "",
        "Ratios (same run), against direct and against LiteLLM:",
        "",
        "| load | target | calls/s ÷ direct | CPU ÷ direct | added p50 ÷ LiteLLM's "
        "| calls/s ÷ LiteLLM's | CPU ÷ LiteLLM's: path (until holds closed; all) |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in loads:
        f = figures[spec.name]
        for label in peers:
            mine, alone = f[label], f["direct"]
            row = f"| {spec.name} | {label} | {mine['rate'] / alone['rate']:.3f} "
            row += f"| {mine['cpu'] / alone['cpu']:.1f} "
            lite = f.get("LiteLLM")
            if lite and label != "LiteLLM":
                row += f"| {mine['p50'] / lite['p50']:.2f} | {mine['rate'] / lite['rate']:.1f} "
                row += f"| {mine['path cpu'] / lite['path cpu']:.3f} "
                row += f"({mine['path cpu closed'] / lite['path cpu']:.3f}; "
                row += f"{mine['cpu'] / lite['cpu']:.2f}) |"
            else:
                row += "| — | — | — |"
            lines.append(row)
    lines += _busy_caller(loads, labels, results, rounds)
    for target in targets:
        if target.clocks is not None:
            lines.append("")
            for spec in loads:
                direct = results[spec.name]["direct"][0]
                upstream = sum(direct) / len(direct)
                seen = results[spec.name][target.label][0]
                lines.append(
                    f"Means per call, ms, {spec.name}, {target.label}: client "
                    f"{sum(seen) / len(seen):.2f} (direct {upstream:.2f}); "
                    + target.clocks.means(spec.name)
                )
    if commits_per_call:
        lines.append("")
        for spec in loads:
            counts = ", ".join(f"{db} {n:.2f}" for db, n in commits_per_call[spec.name].items())
            lines.append(f"Commits per call, {spec.name}: {counts}")
    return lines


def _busy_caller(loads: list[Load], labels: list[str], results: Results, rounds: int) -> list[str]:
    """One client's latencies once it is busy: each round's first two calls left out.

    Every round starts once the holds of the one before are all settled, leases
    included (a lease is given back once idle), so a round's first call finds no lease
    and asks usage for a hold, and its second asks for a lease: a caller coming back
    after a pause. With a few rounds those calls are the p99 of the whole load.
    """
    lines = [
        "",
        "One client once busy (each round's first two calls left out), added p50 / p99 ms:",
        "",
    ]
    for spec in loads:
        if spec.concurrency != 1 or spec.pause:
            continue
        per_round = max(1, spec.calls // rounds)

        def busy(latencies: list[float], per_round: int = per_round) -> list[float]:
            blocks = (latencies[i : i + per_round] for i in range(0, len(latencies), per_round))
            return [ms for block in blocks for ms in block[2:]]

        direct = busy(results[spec.name]["direct"][0])
        added = [
            f"{label} {pct(mine, 0.5) - pct(direct, 0.5):+.2f} / "
            f"{pct(mine, 0.99) - pct(direct, 0.99):+.2f}"
            for label in labels
            if label != "direct" and (mine := busy(results[spec.name][label][0]))
        ]
        lines.append(f"- {spec.name}: " + "; ".join(added))
    return lines


# ---------------------------------------------------------------------------- main


def litellm_config(upstream: str) -> str:
    model = {
        "model_name": "bench-model",
        "litellm_params": {"model": "openai/m", "api_base": upstream + "/v1", "api_key": "bench"},
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"model_list": [model]}, f)  # YAML is a superset of JSON
    return f.name


def proxy_catalog(upstream: str) -> str:
    deployment = {
        "provider": "bench",
        "model": "m",
        "input_per_million": "1",
        "output_per_million": "2",
    }
    catalog = {
        "providers": {"bench": {"kind": "openai", "base_url": upstream + "/v1"}},
        "models": {
            "bench-model": {"plans": ["*"], "max_output_tokens": 4096, "deployments": [deployment]}
        },
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(catalog, f)
    return f.name


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300, help="one-client calls per target")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument(
        "--concurrent-calls", type=int, default=0, help="calls per target at --clients (6 x calls)"
    )
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds per load")
    parser.add_argument(
        "--paced-calls", type=int, default=24, help="one-client calls at a person's pace (0: none)"
    )
    parser.add_argument("--usage-standin", action="store_true", help="usage in memory, not real")
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out")
    parser.add_argument("--proxy-alone", action="store_true", help="also llm-proxy without gateway")
    parser.add_argument("--proxy-workers", type=int, default=1, help="LLM proxy workers")
    parser.add_argument("--workers", type=int, default=1, help="gateway workers")
    parser.add_argument("--profile", metavar="PREFIX", help="py-spy each process, first round")
    args = parser.parse_args()
    py = sys.executable
    litellm = LITELLM.exists() and not args.no_litellm

    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(
            process([py, str(HERE / "standins.py"), "upstream"], stdout=subprocess.PIPE)
        )
        role = "usage" if args.usage_standin else "auth"
        auth = stack.enter_context(
            process([py, str(HERE / "standins.py"), role, str(USERS)], stdout=subprocess.PIPE)
        )
        assert upstream.stdout is not None and auth.stdout is not None
        info = json.loads(upstream.stdout.readline()) | json.loads(auth.stdout.readline())
        users = [u for u, _ in info["users"]]
        tokens = [t for _, t in info["users"]]
        ports = {name: free_port() for name in ("usage", "llm-proxy", "gateway", "litellm")}
        catalog = proxy_catalog(info["upstream"])
        stack.callback(os.unlink, catalog)
        env = {
            **os.environ,
            "TOLLGATE_ENV": "development",
            "LOG_LEVEL": "WARNING",
            "AMQP_URL": AMQP_URL,
            "REDIS_URL": REDIS_URL,
            "JWKS_URL": info["jwks"],
            "AUTH_INTERNAL_URL": info["auth"],
            "USAGE_PORT": str(ports["usage"]),
            "USAGE_DATABASE_URL": DATABASES["usage"],
            "LLM_PROXY_PORT": str(ports["llm-proxy"]),
            "LLM_PROXY_WORKERS": str(args.proxy_workers),
            "LLM_PROXY_DATABASE_URL": DATABASES["llm_proxy"],
            "LLM_PROXY_PROVIDERS_FILE": catalog,
            "LLM_PROXY_CLIENT_SECRET": "bench-only-secret",
            "GATEWAY_PORT": str(ports["gateway"]),
            "GATEWAY_WORKERS": str(args.workers),
            "GATEWAY_LLM_PROXY_URL": f"http://127.0.0.1:{ports['llm-proxy']}",
            **{f"GATEWAY_{s}_URL": info["auth"] for s in ("AUTH", "BILLING", "USAGE")},
        }
        client = os.getpid()
        path: dict[str, int] = {}
        databases = {"llm_proxy"}
        ledger = Ledger(users)
        settled: Callable[[], Awaitable[None]] | None = ledger.settled
        recorded: Callable[[int], Awaitable[Callable[[], Awaitable[None]]]] | None
        recorded = ledger.recorded
        if args.usage_standin:
            env["LLM_PROXY_USAGE_URL"] = info["usage"]
            path["usage stand-in"] = auth.pid
            settled = recorded = None
        else:
            env["LLM_PROXY_USAGE_URL"] = f"http://127.0.0.1:{ports['usage']}"
            subprocess.run([py, "-m", "tollgate.usage", "migrate"], env=env, cwd=ROOT, check=True)
            usage = stack.enter_context(process([py, "-m", "tollgate.usage"], env))
            wait_http(f"{env['LLM_PROXY_USAGE_URL']}/readyz", usage)
            asyncio.run(fund(users))
            price_bench_model(env["LLM_PROXY_USAGE_URL"], info["admin"])
            path["usage"] = usage.pid
            databases.add("usage")
        subprocess.run([py, "-m", "tollgate.llm_proxy", "migrate"], env=env, cwd=ROOT, check=True)
        proxy = stack.enter_context(process([py, "-m", "tollgate.llm_proxy"], env))
        wait_http(f"http://127.0.0.1:{ports['llm-proxy']}/readyz", proxy)
        redis = Redis.from_url(REDIS_URL)
        # The gateway's view of each user's plan: no rate limit in the way. Its sequence
        # is above any funding event's, which the gateway would otherwise apply (the
        # enterprise plan's 600 calls a minute) from the queue it finds at start.
        for user in users:
            redis.hset(
                f"gw:pl:{user}",
                mapping={"sequence": 2**62, "plan": "bench", "requests_per_minute": 10**8,
                         "llm_requests_per_minute": 10**8},
            )  # fmt: skip
        gateway = stack.enter_context(process([py, "-m", "tollgate.gateway"], env))
        wait_http(f"http://127.0.0.1:{ports['gateway']}/healthz", gateway)

        metrics = {
            name: f"http://127.0.0.1:{ports[name]}/metrics"
            for name in ("gateway", "llm-proxy", "usage")
            if name != "usage" or not args.usage_standin
        }
        common = {"upstream": upstream.pid, "client": client}
        with_stores = {"PostgreSQL": 0, "RabbitMQ": 0}
        targets = [Target("direct", info["upstream"], "m", dict(common))]
        if litellm:
            config = litellm_config(info["upstream"])
            stack.callback(os.unlink, config)
            # A master key, as LiteLLM insists: its check is a comparison (no database).
            master_key = "sk-bench-" + uuid.uuid4().hex
            lite_env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
            lite_env |= {"LITELLM_LOG": "ERROR", "LITELLM_MASTER_KEY": master_key}
            lite = stack.enter_context(
                process(
                    [
                        str(LITELLM),
                        "--config",
                        config,
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(ports["litellm"]),
                        "--num_workers",
                        "1",
                    ],
                    lite_env,
                )
            )
            wait_http(f"http://127.0.0.1:{ports['litellm']}/health/liveliness", lite, 120)
            targets.append(
                Target("LiteLLM", f"http://127.0.0.1:{ports['litellm']}", "bench-model",
                       {"litellm": lite.pid, **common}, keys=[master_key])
            )  # fmt: skip
        if args.proxy_alone:
            targets.append(
                Target("llm-proxy", f"http://127.0.0.1:{ports['llm-proxy']}", "bench-model",
                       {"llm-proxy": proxy.pid, **path, **common, **with_stores}, databases,
                       recorded=recorded, settled=settled,
                       clocks=Clocks(dict(list(metrics.items())[1:])))
            )  # fmt: skip
        targets.append(
            Target(TOLLGATE, f"http://127.0.0.1:{ports['gateway']}", "bench-model",
                   {"gateway": gateway.pid, "llm-proxy": proxy.pid, **path, **common,
                    **with_stores}, databases, recorded=recorded, settled=settled,
                   clocks=Clocks(metrics))
        )  # fmt: skip
        concurrent = args.concurrent_calls or args.calls * 6
        loads = [
            Load("one client, non-streamed", one_call, args.calls, 1),
            Load("one client, stream first byte", one_stream, args.calls, 1),
            Load(f"{args.clients} clients, non-streamed", one_call, concurrent, args.clients),
        ]
        if args.paced_calls:
            loads.append(
                Load(f"one client, a call every {PACE_SECONDS} s", one_call, args.paced_calls, 1,
                     pause=PACE_SECONDS)
            )  # fmt: skip
        before = None if args.usage_standin else asyncio.run(ledger.closing(ledger.figures()))
        started = time.monotonic()
        results, commits_per_call = asyncio.run(
            ledger.closing(
                measure(
                    targets,
                    loads,
                    tokens,
                    args.rounds,
                    args.profile,
                    None if args.usage_standin else ledger,
                )
            )
        )
        lines = report(targets, loads, results, commits_per_call, args.rounds)
        if before is not None:
            asyncio.run(ledger.closing(ledger.settled()))
            after = asyncio.run(ledger.closing(ledger.figures()))
            change = {k: after[k] - before[k] for k in after}
            # A lease is one hold for many calls: holds are at most the calls, not equal.
            exact = (
                change["usage records"] == change["request log rows"] >= change["holds"]
                and change["usage tokens"] == change["request log tokens"]
                and change["credits charged"] == change["credits spent from grants"]
                and change["credits uncharged"] == 0
            )
            lines.append(
                "\nledger: "
                + ", ".join(f"{k} {v}" for k, v in change.items())
                + f", holds still open {asyncio.run(ledger.closing(ledger.open_holds()))}: "
                + ("exact" if exact else "NOT EXACT")
            )

    usage_label = "usage stand-in (in memory)" if args.usage_standin else "real usage service"
    print(
        f"targets interleaved over {args.rounds} rounds; {usage_label}; "
        f"{args.calls} one-client calls and streams ({STREAM_WORDS} chunks, {STREAM_DELAY_MS} ms "
        f"apart), {concurrent} calls at {args.clients} clients, {args.paced_calls} calls "
        f"{PACE_SECONDS} s apart, per target; "
        f"{time.monotonic() - started:.0f} s; load average {os.getloadavg()[0]:.2f} "
        f"on {os.cpu_count()} CPUs\n"
    )
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
