"""Per-model prices end to end: a thousand calls across three models, then the ledger
is exactly the sum of each call's tokens at its price, rounded up once per call.

The calls go through the gateway as clients make them, some streamed, some not,
some failing at the provider or breaking off mid-stream; halfway through, an admin
changes one model's price. Afterwards, straight from usage's database: every call
was charged ceil((input * in_price + output * out_price) / 1,000,000) credits at the
price its hold was made with, calls recorded before the change kept their charge,
calls begun after it paid the new price, and each balance is grants minus charges.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from journeys import Person, balance, eventually, funded, login, on_plan, register
from llm_calls import LLMCall, make_call
from suite_settings import PASSWORD

MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-haiku")
CHANGED = "claude-3-5-haiku"
NEW_PRICE = (7_000_001, 9_000_003)  # odd on purpose: every call has a fraction to round
CALLS_PER_PERSON = 250
PEOPLE = 4  # four enterprise people, each well under its LLM requests per minute
CONCURRENCY = 24


async def usage_rows(sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(f"postgresql://tollgate_usage:{PASSWORD}@127.0.0.1:5432/usage_e2e")
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def prices(gateway: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, tuple[int, int]]:
    response = await gateway.get("/api/admin/model-prices", headers=admin)
    assert response.status_code == 200, response.text
    return {
        p["model"]: (p["input_per_million"], p["output_per_million"])
        for p in response.json()["prices"]
    }


async def enterprise_person(gateway: httpx.AsyncClient, admin: dict[str, str], n: int) -> Person:
    """Someone on the enterprise plan, signed in again once their token says so (the
    proxy lets a token's plan choose the models)."""
    person = await register(gateway, f"Pricey{n}")
    await funded(gateway, person)
    await on_plan(gateway, admin, person, "enterprise")

    async def signed_in_again() -> Person | None:
        again = await login(gateway, person.email)
        sees = await gateway.get(f"/v1/models/{CHANGED}", headers=again.headers)
        return again if sees.status_code == 200 else None

    found = await eventually(signed_in_again, bool, what="a token of the enterprise plan")
    assert found is not None
    return found


def calls_for(person: Person, offset: int, rng: random.Random) -> list[LLMCall]:
    """A mixed workload: three models, streamed and not, odd prompt sizes, and failures."""
    calls = []
    for i in range(CALLS_PER_PERSON):
        stream = rng.random() < 0.5
        directives = f"[[prompt:{rng.randint(1, 997)}]]"
        roll = rng.random()
        if roll < 0.05:
            directives += " [[fail:standin:500]]"  # the only provider fails: nothing produced
        elif stream and roll < 0.10:
            directives += f" [[errorevent:{rng.randint(1, 4)}]]"
        elif stream and roll < 0.13:
            directives += f" [[drop:{rng.randint(1, 4)}]]"
        calls.append(
            LLMCall(
                person,
                offset + i,
                stream,
                words=rng.randint(1, 12),
                model=MODELS[i % len(MODELS)],
                extra=directives,
            )
        )
    return calls


def expected_charge(row: asyncpg.Record) -> int:
    """The rule, written out in integers: input at the input price, the rest of the total
    at the output price, rounded up once for the call."""
    output = max(row["completion_tokens"], row["total_tokens"] - row["prompt_tokens"])
    micro = row["prompt_tokens"] * row["input_per_million"] + output * row["output_per_million"]
    return -(-micro // 1_000_000)


async def run_all(
    gateway: httpx.AsyncClient, calls: list[LLMCall], halfway: Callable[[], Awaitable[None]]
) -> None:
    """Every call, CONCURRENCY at a time; ``halfway`` runs once half of them have ended."""
    gate = asyncio.Semaphore(CONCURRENCY)
    ended = 0
    change: asyncio.Task[None] | None = None

    async def one(call: LLMCall) -> None:
        nonlocal ended, change
        async with gate:
            await make_call(gateway, call)
        ended += 1
        if ended == len(calls) // 2:
            change = asyncio.create_task(halfway())  # while the other half is in flight

    await asyncio.gather(*(one(c) for c in calls))
    assert change is not None
    await change


async def test_a_thousand_mixed_calls_cost_exactly_their_tokens_at_their_price(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    people = [await enterprise_person(gateway, admin, n) for n in range(PEOPLE)]
    before = await prices(gateway, admin)
    assert len({before[m] for m in MODELS}) == 3, "three models, three different prices"
    rng = random.Random(14)
    calls = [c for n, p in enumerate(people) for c in calls_for(p, n * CALLS_PER_PERSON, rng)]
    rng.shuffle(calls)
    user_ids = [p.user_id for p in people]
    moments: dict[str, datetime] = {}
    charged_before: dict[str, int] = {}

    async def change_price() -> None:
        moments["asked"] = datetime.now(UTC)
        recorded = await usage_rows(
            "SELECT request_id, charged_credits FROM usage_records"
            " WHERE user_id = ANY($1::uuid[]) AND recorded_at < $2",
            user_ids,
            moments["asked"],
        )
        charged_before.update({r["request_id"]: r["charged_credits"] for r in recorded})
        changed = await gateway.put(
            f"/api/admin/model-prices/{CHANGED}",
            json={"input_per_million": NEW_PRICE[0], "output_per_million": NEW_PRICE[1]},
            headers=admin,
        )
        assert changed.status_code == 200, changed.text
        moments["done"] = datetime.now(UTC)

    await run_all(gateway, calls, change_price)

    endings = {c.ending for c in calls}
    assert endings <= {"complete", "refused", "interrupted", "torn"}, endings
    outcomes = Counter((c.model, c.status, c.ending) for c in calls)
    samples = {(c.model, c.status): c.detail for c in calls if c.ending != "complete"}
    assert sum(c.ending == "complete" for c in calls) > 800, (outcomes, samples)
    assert all(c.status in (200, 502) for c in calls), {c.status for c in calls}
    for person in people:
        await eventually(
            lambda person=person: balance(gateway, person),
            lambda b: b.get("reserved") == 0,
            timeout=60,
            what="every hold settled",
        )
    rows = await usage_rows(
        "SELECT request_id, user_id, account_id, model, prompt_tokens, completion_tokens,"
        " total_tokens, charged_credits, uncharged_credits, input_per_million,"
        " output_per_million, started_at, recorded_at"
        " FROM usage_records WHERE user_id = ANY($1::uuid[])",
        user_ids,
    )
    assert len(rows) == len(calls), "one usage row per call, failures included"

    for row in rows:
        assert row["uncharged_credits"] == 0, dict(row)
        assert row["charged_credits"] == expected_charge(row), dict(row)
        price = (row["input_per_million"], row["output_per_million"])
        if row["model"] != CHANGED:
            assert price == before[row["model"]], dict(row)
        elif row["recorded_at"] < moments["asked"]:
            assert price == before[CHANGED], dict(row)
        elif row["started_at"] > moments["done"]:
            assert price == NEW_PRICE, dict(row)
        else:  # in flight while the price changed: held at one or the other
            assert price in (before[CHANGED], NEW_PRICE), dict(row)
    charged_now = {r["request_id"]: r["charged_credits"] for r in rows}
    assert charged_before, "some calls were recorded before the change"
    assert {k: charged_now[k] for k in charged_before} == charged_before
    assert any(r["model"] == CHANGED and r["started_at"] > moments["done"] for r in rows), (
        "some calls of the changed model began after the change"
    )

    for person in people:
        mine = [r for r in rows if str(r["user_id"]) == person.user_id]
        spent = await usage_rows(
            "SELECT coalesce(-sum(amount), 0) AS spent FROM ledger_entries"
            " WHERE account_id = $1::uuid AND kind = 'spend'",
            person.user_id,
        )
        granted = await usage_rows(
            "SELECT coalesce(sum(amount), 0) AS granted FROM grants"
            " WHERE account_id = $1::uuid AND (expires_at IS NULL OR expires_at > now())",
            person.user_id,
        )
        charges = sum(r["charged_credits"] for r in mine)
        assert spent[0]["spent"] == charges
        final = await balance(gateway, person)
        assert final["unit"] == "credits"
        assert final["available"] == granted[0]["granted"] - charges
