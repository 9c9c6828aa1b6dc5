"""Failure drills: parts of the system die mid-traffic; afterwards no token is lost or
counted twice, no hold stays open, and every outbox has drained.

Bounded: a few dozen calls on loopback, each drill under a minute.

When the llm-proxy dies mid-answer (``kill -9``), the design is:

    A call in flight when the llm-proxy process dies cannot know its final tokens. The
    customer is not billed for an answer the proxy could not finish delivering: its
    hold returns to the balance when its TTL passes (usage's sweeper), and the operator
    bears what the upstream charged for it. Every call whose answer completed is
    durably recorded first (the request-log row and ``usage.recorded`` in the outbox,
    one transaction) before the client sees the end of the answer: a non-streamed
    answer is returned, and a stream's ``data: [DONE]`` sent, only after that commit.
    So a crash after that point loses nothing; the outbox drains when the proxy
    restarts. The price of this order is a narrow window: a call committed just before
    the crash whose last bytes had not yet reached the client is billed although the
    client saw an error; never the reverse, an answer delivered that nobody bills.
    A cut call always says so: a 5xx from the gateway if its answer had not begun,
    otherwise an in-band error event (``code: stream_interrupted``) and
    ``data: [DONE]``, which the gateway writes when the proxy's stream breaks off.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from devstack import Stack
from journeys import PASSWORD, Person, balance, eventually, funded, on_plan, register
from llm_calls import LLMCall, launch, make_call


async def burst(gateway: httpx.AsyncClient, person: Person, calls: int) -> list[int]:
    async def one(i: int) -> int:
        try:
            response = await gateway.post(
                "/v1/chat/completions",
                headers=person.headers,
                json={
                    "model": "gpt-4o-mini",
                    "messages": [
                        {
                            "role": "user",
                            "content": f"call {i} [[words:5]] [[acct:{person.user_id}]]",
                        }
                    ],
                    "max_tokens": 16,
                },
            )
        except httpx.HTTPError:
            return 0
        if response.status_code == 500:
            unhandled.append(response.text[:300])
        return response.status_code

    statuses: list[int] = []
    unhandled: list[str] = []
    for start in range(0, calls, 10):  # waves of ten, so the kill lands mid-burst
        statuses += await asyncio.gather(*(one(i) for i in range(start, min(calls, start + 10))))
        await asyncio.sleep(0.1)
    # Failures during a drill are 402/502/503/504, never an unhandled error.
    assert not unhandled, unhandled[:3]
    return statuses


async def outboxes_drained(stack: Stack) -> bool:
    async with httpx.AsyncClient() as client:
        for name in ("auth", "billing", "usage", "llm-proxy"):
            report = (await client.get(f"{stack.url(name)}/readyz")).json()
            if "0 event(s) waiting" not in str(report["checks"].get("broker")):
                return False
    return True


async def settled_exactly(gateway: httpx.AsyncClient, person: Person, outside: object) -> None:
    """Ledger equals what the upstream reported, and no hold is left open past its TTL.

    A hold whose 201 was lost when usage died is unknown to the proxy; it expires
    after the TTL (15 s here), which is what the wait allows for."""
    produced = outside.llm.produced[person.user_id]  # type: ignore[attr-defined]
    final = await eventually(
        lambda: balance(gateway, person),
        lambda b: b.get("used_this_period") == produced.total and b.get("reserved") == 0,
        timeout=45,
        what=f"ledger equal to upstream-reported {produced.total} tokens",
    )
    assert final["available"] == final["allocation"] - produced.total


async def test_usage_killed_mid_burst_loses_and_doubles_nothing(
    stack: Stack, gateway: httpx.AsyncClient, outside: object, admin: dict[str, str]
) -> None:
    person = await register(gateway, "Edsger")
    await funded(gateway, person)
    await on_plan(gateway, admin, person, "enterprise")  # rate limits out of the way

    async def kill_and_restart() -> None:
        await asyncio.sleep(0.4)
        stack.kill("usage")
        await asyncio.sleep(1.5)
        stack.restart("usage")

    await asyncio.gather(burst(gateway, person, 60), kill_and_restart())
    await asyncio.to_thread(stack.wait_ready, 60)
    after = await burst(gateway, person, 5)
    assert after == [200] * 5  # whole again once usage is back

    await settled_exactly(gateway, person, outside)
    await eventually(lambda: outboxes_drained(stack), bool, timeout=30, what="outboxes drained")


async def test_usage_killed_and_restarted_at_once_mid_burst_leaves_calls_answered(
    stack: Stack, gateway: httpx.AsyncClient, outside: object, admin: dict[str, str]
) -> None:
    """A hold is idempotent by its request_id, so the proxy asks usage again while it
    restarts (for up to LLM_PROXY_METERING_RETRY_SECONDS): the calls of those seconds
    wait instead of failing, and none is held or billed twice."""
    person = await register(gateway, "Tony")
    await funded(gateway, person)
    await on_plan(gateway, admin, person, "enterprise")

    async def kill_and_restart_at_once() -> None:
        await asyncio.sleep(1.0)
        stack.kill("usage")
        stack.restart("usage")

    statuses, _ = await asyncio.gather(burst(gateway, person, 300), kill_and_restart_at_once())
    await asyncio.to_thread(stack.wait_ready, 60)

    answered = statuses.count(200)
    assert answered >= 270, f"{answered} of 300 answered; statuses {sorted(set(statuses))}"
    await settled_exactly(gateway, person, outside)
    await eventually(lambda: outboxes_drained(stack), bool, timeout=30, what="outboxes drained")


async def test_the_broker_restarting_mid_traffic_delays_but_loses_nothing(
    stack: Stack, gateway: httpx.AsyncClient, outside: object, admin: dict[str, str]
) -> None:
    person = await register(gateway, "Barbara")
    await funded(gateway, person)
    await on_plan(gateway, admin, person, "enterprise")

    async def bounce_broker() -> None:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(subprocess.run, ["rabbitmqctl", "-q", "stop_app"], check=True)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(subprocess.run, ["rabbitmqctl", "-q", "start_app"], check=True)

    await asyncio.gather(burst(gateway, person, 40), bounce_broker())

    await asyncio.to_thread(stack.wait_ready, 60)
    after = await burst(gateway, person, 5)
    assert after == [200] * 5  # the system is whole again once the broker is back
    await settled_exactly(gateway, person, outside)
    await eventually(lambda: outboxes_drained(stack), bool, timeout=30, what="outboxes drained")


def redis_server(action: str) -> None:
    if action == "stop":
        subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], capture_output=True)
    else:
        subprocess.run(
            [
                "redis-server",
                "--port",
                "6379",
                "--bind",
                "127.0.0.1",
                "--daemonize",
                "yes",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
            capture_output=True,
        )


async def test_without_redis_calls_go_on_and_sign_in_fails_closed_then_recovers(
    stack: Stack, gateway: httpx.AsyncClient, outside: object, admin: dict[str, str]
) -> None:
    person = await register(gateway, "Redis")
    await funded(gateway, person)
    await on_plan(gateway, admin, person, "enterprise")
    await asyncio.to_thread(redis_server, "stop")
    try:
        during = await burst(gateway, person, 5)
        assert during == [200] * 5  # the gateway limits in-process meanwhile
        login = await gateway.post(
            "/api/auth/login-json", json={"email": person.email, "password": PASSWORD}
        )
        assert login.status_code == 503  # throttling cannot be checked: refuse, don't guess
    finally:
        await asyncio.to_thread(redis_server, "start")

    async def signs_in() -> int:
        response = await gateway.post(
            "/api/auth/login-json", json={"email": person.email, "password": PASSWORD}
        )
        return response.status_code

    await eventually(signs_in, lambda status: status == 200, timeout=30, what="sign-in back")
    await settled_exactly(gateway, person, outside)


def restart_postgresql() -> None:
    """Debian's cluster tools, as scripts/stack.sh uses them."""
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    subprocess.run(["pg_ctlcluster", version, "main", "restart"], check=True)


async def test_a_postgresql_restart_mid_traffic_loses_and_doubles_nothing(
    stack: Stack, gateway: httpx.AsyncClient, outside: object, admin: dict[str, str]
) -> None:
    person = await register(gateway, "Postgres")
    await funded(gateway, person)
    await on_plan(gateway, admin, person, "enterprise")

    async def restart_database() -> None:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(restart_postgresql)

    await asyncio.gather(burst(gateway, person, 40), restart_database())
    await asyncio.to_thread(stack.wait_ready, 60)
    after = await burst(gateway, person, 5)
    assert after == [200] * 5
    await settled_exactly(gateway, person, outside)
    await eventually(lambda: outboxes_drained(stack), bool, timeout=30, what="outboxes drained")


def dead_letters(vhost: str) -> dict[str, int]:
    """Messages parked in each dead-letter queue of the suite's vhost."""
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "messages"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    parked: dict[str, int] = {}
    for line in listing.splitlines():
        name, _, count = line.partition("\t")
        if name.endswith(".dlq"):
            parked[name] = int(count)
    return parked


class RequestLog:
    """The llm-proxy's own record of its calls, read where it keeps it."""

    def __init__(self, stack: Stack) -> None:
        self.dsn = stack.env()["LLM_PROXY_DATABASE_URL"].replace("+asyncpg", "")
        self.pool: asyncpg.Pool | None = None

    async def __aenter__(self) -> RequestLog:
        self.pool = await asyncpg.create_pool(self.dsn, min_size=2, max_size=4)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.pool is not None
        await self.pool.close()

    async def has(self, http_request_id: str) -> bool:
        """The call's row and its ``usage.recorded`` outbox row are both committed."""
        assert self.pool is not None
        found = await self.pool.fetchval(
            """
            SELECT count(*) FROM request_log r JOIN outbox o
              ON o.event_type = 'usage.recorded'
             AND (o.body::jsonb -> 'data' ->> 'request_id') = r.request_id
             WHERE r.http_request_id = $1
            """,
            http_request_id,
        )
        return bool(found == 1)

    async def rows(self, person: Person) -> list[asyncpg.Record]:
        assert self.pool is not None
        return await self.pool.fetch(
            "SELECT request_id, http_request_id, status, total_tokens"
            " FROM request_log WHERE user_id = $1",
            uuid.UUID(person.user_id),
        )


@pytest.fixture
async def request_log(stack: Stack) -> AsyncIterator[RequestLog]:
    async with RequestLog(stack) as log:
        yield log


async def usage_ledger(gateway: httpx.AsyncClient, person: Person) -> list[dict[str, Any]]:
    response = await gateway.get(
        "/api/tokens/usage", params={"page_size": 200}, headers=person.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_llm_proxy_killed_mid_answers_bills_every_finished_answer_once(
    stack: Stack,
    gateway: httpx.AsyncClient,
    outside: object,
    admin: dict[str, str],
    request_log: RequestLog,
) -> None:
    """kill -9 of the llm-proxy with streamed and plain answers in flight, then a restart.

    As the module's docstring sets out: a call in flight when the proxy dies cannot
    know its final tokens and is not billed; its hold returns when its TTL passes
    (15 s here). Every answer that completed was durably recorded (request-log row
    and outbox event, one transaction) before the client saw its end, which is
    checked at that very moment, so the crash loses none of them and the outbox
    drains once the proxy is back. Each cut call got a clear error: a 5xx before its
    answer began, or an in-band error event and ``[DONE]`` once it had; never a
    connection simply closing. The ledger then holds, once each, exactly the calls
    on record, with the tokens the upstream stand-in reported for them."""
    person = await register(gateway, "Grace")
    await funded(gateway, person)
    await on_plan(gateway, admin, person, "enterprise")
    log = request_log
    parked_before = await asyncio.to_thread(dead_letters, stack.vhost)
    unrecorded: list[LLMCall] = []
    killed_at: list[float] = []

    async def check_recorded(call: LLMCall) -> None:
        if call.ending == "complete" and not await log.has(call.request_id):
            unrecorded.append(call)  # the client saw the end of an answer not yet on record

    # Streams of 6 to 14 words 100 ms apart, and plain answers the stand-in holds for
    # 400 ms: whenever the proxy dies, some of each are mid-answer. Each call has its
    # own size, so a bill booked against the wrong call shows.
    def calls(first: int, count: int) -> list[LLMCall]:
        return [
            LLMCall(person, i, stream=i % 2 == 1, words=6 + i % 9,
                    delay_ms=100 if i % 2 else 0, sleep_ms=0 if i % 2 else 400)
            for i in range(first, first + count)
        ]  # fmt: skip

    before, during = calls(0, 20), calls(20, 16)

    async def kill_mid_answers() -> list[LLMCall]:
        async def mid_answer() -> tuple[int, int, int]:
            done = [c for c in before if c.ending == "complete"]
            streaming = [c for c in before if c.in_flight and c.stream]
            return len(streaming), sum(c.stream for c in done), sum(not c.stream for c in done)

        await eventually(
            mid_answer,
            lambda counts: counts[0] >= 2 and counts[1] >= 1 and counts[2] >= 1,
            timeout=30,
            what="streams mid-answer once answers of both kinds have completed",
        )
        await asyncio.to_thread(stack.kill, "llm-proxy")
        killed_at.append(asyncio.get_running_loop().time())
        # Calls keep coming while it is down and while it starts again.
        restarted = asyncio.create_task(restart_after(1.0))
        cut = await launch(gateway, during, every=0.1, on_end=check_recorded)
        await restarted
        return cut

    async def restart_after(seconds: float) -> None:
        await asyncio.sleep(seconds)
        await asyncio.to_thread(stack.restart, "llm-proxy")

    results = await asyncio.gather(
        launch(gateway, before, every=0.05, on_end=check_recorded), kill_mid_answers()
    )
    burst = [call for group in results for call in group]
    await asyncio.to_thread(stack.wait_ready, 90)
    after = await asyncio.gather(*(make_call(gateway, c, check_recorded) for c in calls(40, 6)))

    story = "\n".join(map(repr, burst + after))
    assert {c.ending for c in burst} <= {"complete", "refused", "interrupted"}, story
    assert all(c.status in {502, 503, 504} for c in burst if c.ending == "refused"), story
    assert all(c.ending == "complete" for c in after), story  # whole again, no 500
    # The crash did cut answers both ways, and answers of both kinds did finish.
    assert any(c.ending == "interrupted" for c in burst), story
    assert any(c.ending == "refused" for c in burst), story
    assert any(c.ending == "complete" and c.stream for c in burst), story
    assert any(c.ending == "complete" and not c.stream for c in burst), story
    assert not unrecorded, "\n".join(map(repr, unrecorded))

    everyone = burst + after
    produced = outside.llm.produced  # type: ignore[attr-defined]
    upstream = {c.request_id: produced[c.tag].total for c in everyone}
    complete = [c for c in everyone if c.ending == "complete"]
    assert all(c.told_tokens == upstream[c.request_id] for c in complete), complete

    # Every finished answer is on record once, with what the upstream reported; a cut
    # call is on record only if it was recorded before the crash cut its delivery.
    rows = {row["http_request_id"]: row for row in await log.rows(person)}
    assert {c.request_id for c in complete} <= rows.keys()
    assert rows.keys() <= upstream.keys()
    for request_id, row in rows.items():
        assert row["total_tokens"] == upstream[request_id], (request_id, dict(row))
    assert all(rows[c.request_id]["status"] == "succeeded" for c in complete)

    # The ledger holds exactly those calls, each once; every other hold has expired,
    # which the sweeper must have seen within its TTL of the crash (plus some slack).
    billed = sum(row["total_tokens"] for row in rows.values())
    ttl = int(stack.extra_env["LLM_PROXY_RESERVATION_TTL_SECONDS"])
    final = await eventually(
        lambda: balance(gateway, person),
        lambda b: b.get("used_this_period") == billed and b.get("reserved") == 0,
        timeout=max(1.0, killed_at[0] + ttl + 15 - asyncio.get_running_loop().time()),
        what=f"ledger equal to the {billed} tokens on record, no hold left past its TTL",
    )
    assert final["available"] == final["allocation"] - billed
    ledger = await usage_ledger(gateway, person)
    assert sorted(item["request_id"] for item in ledger) == sorted(
        row["request_id"] for row in rows.values()
    )
    by_proxy_id = {row["request_id"]: row["total_tokens"] for row in rows.values()}
    assert all(item["total_tokens"] == by_proxy_id[item["request_id"]] for item in ledger)
    assert all(item["charged_tokens"] == item["total_tokens"] for item in ledger)

    await eventually(lambda: outboxes_drained(stack), bool, timeout=30, what="outboxes drained")
    parked = await asyncio.to_thread(dead_letters, stack.vhost)
    assert {q: n for q, n in parked.items() if n != parked_before.get(q, 0)} == {}
