"""Leases: a busy caller's calls are paid from one hold the proxy spends locally.

The first call of a caller takes a hold of its own, as always; a caller calling again
within seconds gets a lease (a hold with room for more calls), and the calls it covers
reach usage only as their ``usage.recorded`` events. What a person can see must not
change: every call is charged its tokens at its price exactly once, the balance never
goes below what was charged, nothing stays reserved once the caller stops, and while
usage is away the calls a lease covers are still answered.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
from devstack import Stack
from journeys import Person, balance, eventually, funded, on_plan, register
from llm_calls import LLMCall, make_call
from suite_settings import PASSWORD


async def usage_rows(sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(f"postgresql://tollgate_usage:{PASSWORD}@127.0.0.1:5432/usage_e2e")
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def busy_person(gateway: httpx.AsyncClient, admin: dict[str, str], name: str) -> Person:
    person = await register(gateway, name)
    await funded(gateway, person)
    await on_plan(gateway, admin, person, "enterprise")  # request limits out of the way
    return person


async def calls_in_waves(
    gateway: httpx.AsyncClient, person: Person, count: int, at_once: int, start: int = 0
) -> list[LLMCall]:
    calls = [LLMCall(person, start + i, stream=i % 3 == 0, words=1 + i % 7) for i in range(count)]
    for first in range(0, count, at_once):
        await asyncio.gather(*(make_call(gateway, c) for c in calls[first : first + at_once]))
    return calls


def charge(row: asyncpg.Record) -> int:
    """The one rounding rule, written out: input at its price, the rest at the output price."""
    output = max(row["completion_tokens"], row["total_tokens"] - row["prompt_tokens"])
    micro = row["prompt_tokens"] * row["input_per_million"] + output * row["output_per_million"]
    return -(-micro // 1_000_000)


async def settled_exactly(gateway: httpx.AsyncClient, person: Person, calls: int) -> None:
    """One usage row per call at its exact charge, paid from the grants, nothing held."""
    await eventually(
        lambda: balance(gateway, person),
        lambda b: b.get("reserved") == 0,
        timeout=45,
        what="every lease shrunk and settled",
    )
    rows = await usage_rows(
        "SELECT prompt_tokens, completion_tokens, total_tokens, charged_credits,"
        " uncharged_credits, input_per_million, output_per_million"
        " FROM usage_records WHERE user_id = $1::uuid",
        person.user_id,
    )
    assert len(rows) == calls
    assert all(r["uncharged_credits"] == 0 for r in rows)
    assert all(r["charged_credits"] == charge(r) for r in rows)
    charges = sum(r["charged_credits"] for r in rows)
    spent = await usage_rows(
        "SELECT coalesce(-sum(amount), 0) AS spent FROM ledger_entries"
        " WHERE account_id = $1::uuid AND kind = 'spend'",
        person.user_id,
    )
    assert spent[0]["spent"] == charges
    still_held = await usage_rows(
        "SELECT count(*) AS n FROM holds WHERE user_id = $1::uuid AND status = 'held'",
        person.user_id,
    )
    assert still_held[0]["n"] == 0
    final = await balance(gateway, person)
    assert final["available"] == final["allocation"] - charges


async def test_a_busy_callers_calls_share_a_few_holds_and_cost_exactly_their_tokens(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    person = await busy_person(gateway, admin, "Busy")

    calls = await calls_in_waves(gateway, person, 60, at_once=6)

    assert [c.ending for c in calls] == ["complete"] * 60, [
        c for c in calls if c.ending != "complete"
    ]
    holds = await usage_rows(
        "SELECT count(*) AS n FROM holds WHERE user_id = $1::uuid", person.user_id
    )
    # The first call's own hold, then a lease or a few: far fewer holds than calls.
    assert 1 <= holds[0]["n"] <= 12, f"{holds[0]['n']} holds for 60 calls"
    await settled_exactly(gateway, person, 60)


async def test_calls_a_lease_covers_are_answered_while_usage_is_down(
    stack: Stack, gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    person = await busy_person(gateway, admin, "Steady")
    warm = await calls_in_waves(gateway, person, 4, at_once=1)  # the second one is leased
    assert [c.status for c in warm] == [200] * 4

    stack.kill("usage")
    try:
        during = await calls_in_waves(gateway, person, 8, at_once=2, start=4)
    finally:
        stack.restart("usage")
    await asyncio.to_thread(stack.wait_ready, 60)

    assert [c.status for c in during] == [200] * 8, during
    await settled_exactly(gateway, person, 12)
