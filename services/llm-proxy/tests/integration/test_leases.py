"""Leases: a busy caller's calls are spent from one hold, and the ledger stays exact."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import httpx
import pytest
from llm_helpers import chat
from llm_stack import Stack

from tollgate.llm_proxy.completions.service import BALANCE_HEADER


def ask(content: str, user: uuid.UUID, **extra: object) -> dict[str, object]:
    return chat(f"{content} [[acct:{user}]]", **extra)


async def calls_in_a_row(http: httpx.AsyncClient, user: uuid.UUID, n: int) -> list[httpx.Response]:
    return [
        await http.post("/v1/chat/completions", json=ask("hi [[words:3]]", user, max_tokens=20))
        for _ in range(n)
    ]


def produced(stack: Stack, user: uuid.UUID) -> int:
    return sum(p.produced[str(user)].total for p in (stack.alpha, stack.beta, stack.claude))


async def assert_ledger_exact(stack: Stack, user: uuid.UUID, start: int, calls: int) -> None:
    """Usage settled every call from its event, and every lease was shrunk final to
    exactly what its calls were charged."""
    events = await stack.usage.events_of(user, calls)
    await stack.usage.closed(user)
    assert stack.usage.anomalies == []
    assert (
        stack.usage.committed(user)
        == sum(e["total_tokens"] for e in events)
        == produced(stack, user)
    )
    assert stack.usage.balances[str(user)] == start - produced(stack, user)
    for lease in stack.usage.leases_of(user):
        last = lease.shrinks[-1]
        assert last["final"] is True
        assert last["credits"] == lease.committed_tokens
        leased = [e for e in events if e["reservation_id"] == lease.reservation_id]
        assert last["calls"] == len(leased)


async def test_a_busy_callers_calls_after_the_first_are_answered_without_asking_usage(
    fresh: Stack,
) -> None:
    user_id, token = fresh.user(tokens=100_000)
    asked = fresh.usage.reservation_calls

    async with fresh.http(token) as http:
        responses = await calls_in_a_row(http, user_id, 10)

    assert [r.status_code for r in responses] == [200] * 10
    # The first call holds for itself; the second asks for a lease that serves the rest.
    assert fresh.usage.reservation_calls - asked == 2
    [lease] = fresh.usage.leases_of(user_id)
    events = await fresh.usage.events_of(user_id, 10)
    assert sum(e["reservation_id"] == lease.reservation_id for e in events) == 9
    await assert_ledger_exact(fresh, user_id, 100_000, 10)


async def test_a_lone_call_still_takes_a_plain_hold(fresh: Stack) -> None:
    user_id, token = fresh.user(tokens=100_000)
    leases = fresh.usage.lease_asks

    async with fresh.http(token) as http:
        response = await http.post("/v1/chat/completions", json=ask("hi [[words:3]]", user_id))

    assert response.status_code == 200
    [hold] = [h for h in fresh.usage.holds.values() if h.account == str(user_id)]
    assert hold.lease is None and fresh.usage.lease_asks == leases
    await assert_ledger_exact(fresh, user_id, 100_000, 1)


async def test_the_balance_header_of_each_leased_call_is_the_balance_after_it(
    fresh: Stack,
) -> None:
    user_id, token = fresh.user(tokens=100_000)

    async with fresh.http(token) as http:
        responses = await calls_in_a_row(http, user_id, 1)
        # Once the plain hold is settled, the lease's answer knows the whole balance.
        await fresh.usage.events_of(user_id, 1)
        responses += await calls_in_a_row(http, user_id, 4)

    spent = 0
    for response in responses:
        spent += response.json()["usage"]["total_tokens"]
        assert response.headers[BALANCE_HEADER] == str(100_000 - spent)


async def test_mixed_calls_of_busy_callers_settle_to_the_sum_of_their_charges(
    fresh: Stack,
) -> None:
    users = [fresh.user(tokens=200_000) for _ in range(3)]
    directives = ["", "[[fail:alpha:503]]", "[[drop:2]]", "[[nousage]]", "[[fail:alpha:400]]"]

    async def caller(user: uuid.UUID, token: str) -> None:
        async with fresh.http(token) as http:
            for i in range(15):
                body = ask(f"call {i} [[words:{1 + i % 4}]] {directives[i % 5]}", user)
                if i % 2:
                    body["stream"] = True
                    async with http.stream("POST", "/v1/chat/completions", json=body) as r:
                        await r.aread()
                else:
                    await http.post("/v1/chat/completions", json=body)

    await asyncio.gather(*(caller(u, t) for u, t in users))

    for user, _ in users:
        assert fresh.usage.leases_of(user), "busy callers were served from leases"
        await assert_ledger_exact(fresh, user, 200_000, 15)


async def test_concurrent_calls_of_one_caller_ask_for_one_lease(fresh: Stack) -> None:
    user_id, token = fresh.user(tokens=1_000_000)
    asked = fresh.usage.reservation_calls

    async with fresh.http(token) as http:
        await calls_in_a_row(http, user_id, 1)  # the caller is busy from now on
        responses = await asyncio.gather(
            *(
                http.post("/v1/chat/completions", json=ask("hi [[words:2]]", user_id, max_tokens=9))
                for _ in range(20)
            )
        )

    assert [r.status_code for r in responses] == [200] * 20
    assert fresh.usage.reservation_calls - asked == 2, "one plain hold, then one lease"
    assert len(fresh.usage.leases_of(user_id)) == 1
    await assert_ledger_exact(fresh, user_id, 1_000_000, 21)


async def test_a_busy_callers_next_lease_is_asked_before_the_last_runs_out(
    fresh: Stack,
) -> None:
    """No call of a steady caller waits for usage: each lease's successor is granted
    while the lease still serves calls, and the old one is shrunk only afterwards."""
    user_id, token = fresh.user(tokens=1_000_000)

    async with fresh.http(token) as http:
        responses = await calls_in_a_row(http, user_id, 90)

    assert [r.status_code for r in responses] == [200] * 90
    leases = fresh.usage.leases_of(user_id)
    assert len(leases) >= 3, "32 calls a lease: at least three for 89 calls"
    await assert_ledger_exact(fresh, user_id, 1_000_000, 90)
    for old, new in itertools.pairwise(leases):
        assert new.made_at < old.shrunk_at[0], "the successor came before the old one was shrunk"
    events = await fresh.usage.events_of(user_id, 90)
    served = [e["reservation_id"] for e in events[1:]]
    # Every call after the first (a lone call's plain hold) was served by a lease, and
    # the renewals' own request ids never reach usage as calls.
    assert set(served) == {lease.reservation_id for lease in leases}
    assert not any(e["request_id"].startswith("lease-renewal-") for e in events)


async def test_a_crowd_of_one_callers_calls_over_many_leases_leaves_every_lease_shrunk_final(
    fresh: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Renewals and the asks of calls no lease covers meet here: whichever lands first,
    no lease is dropped without its final shrink, and every call is billed once."""
    book = fresh.app.state.completions.leases
    monkeypatch.setattr(book, "most_calls", book.calls)  # leases that do not grow: many
    user_id, token = fresh.user(tokens=5_000_000)
    async with fresh.http(token) as http:
        await calls_in_a_row(http, user_id, 1)  # the caller is busy from now on
        gate = asyncio.Semaphore(12)

        async def one() -> int:
            async with gate:
                body = ask("hi [[words:2]]", user_id, max_tokens=9)
                return (await http.post("/v1/chat/completions", json=body)).status_code

        statuses = await asyncio.gather(*(one() for _ in range(200)))

    assert statuses == [200] * 200
    assert len(fresh.usage.leases_of(user_id)) >= 6
    await assert_ledger_exact(fresh, user_id, 5_000_000, 201)


async def test_a_busy_callers_leases_grow_so_usage_is_asked_less_often(fresh: Stack) -> None:
    user_id, token = fresh.user(tokens=5_000_000)
    async with fresh.http(token) as http:
        await calls_in_a_row(http, user_id, 1)
        gate = asyncio.Semaphore(12)

        async def one() -> int:
            async with gate:
                body = ask("hi [[words:2]]", user_id, max_tokens=9)
                return (await http.post("/v1/chat/completions", json=body)).status_code

        statuses = await asyncio.gather(*(one() for _ in range(300)))

    assert statuses == [200] * 300
    book = fresh.app.state.completions.leases
    granted = [entry.lease["calls"] for entry in fresh.usage.leases_of(user_id)]
    # Each lease its calls used up asked room for twice the calls of the one before
    # (a lease's calls count the asking's own hold beside the room).
    room = [calls - 1 for calls in granted]
    assert room[:3] == [book.calls, 2 * book.calls, 4 * book.calls], granted
    assert len(granted) <= 5  # 300 calls; 10 leases at the base size
    await assert_ledger_exact(fresh, user_id, 5_000_000, 301)


async def test_a_call_larger_than_what_the_lease_has_left_retires_it_and_asks_a_new_one(
    fresh: Stack,
) -> None:
    # A lease takes at most half of what is left: 1,000 leaves room for small calls only.
    user_id, token = fresh.user(tokens=1_000)

    async with fresh.http(token) as http:
        await calls_in_a_row(http, user_id, 2)
        [first] = fresh.usage.leases_of(user_id)
        assert first.lease is not None and first.lease["credits"] < 600
        big = await http.post(
            "/v1/chat/completions", json=ask("big [[words:3]]", user_id, max_tokens=600)
        )

    assert big.status_code == 200, big.text
    first_lease, second_lease = fresh.usage.leases_of(user_id)
    assert first_lease is first
    # Shrunk final (nothing was in flight) before usage was asked for the next lease.
    assert first.shrinks and first.shrinks[0]["final"] is True
    assert first.shrinks[0]["calls"] == 1
    assert second_lease.lease is not None
    await assert_ledger_exact(fresh, user_id, 1_000, 3)


async def test_a_call_that_fails_before_any_token_gives_its_credits_back_to_the_lease(
    fresh: Stack,
) -> None:
    user_id, token = fresh.user(tokens=100_000)

    async with fresh.http(token) as http:
        await calls_in_a_row(http, user_id, 1)
        await fresh.usage.events_of(user_id, 1)
        await calls_in_a_row(http, user_id, 1)
        asked = fresh.usage.reservation_calls
        failed = await http.post(
            "/v1/chat/completions",
            json=ask("[[fail:alpha:503,beta:503]]", user_id, max_tokens=20),
        )
        after = await calls_in_a_row(http, user_id, 1)

    assert failed.status_code == 502
    assert fresh.usage.reservation_calls == asked, "no release, no hold: all from the lease"
    events = await fresh.usage.events_of(user_id, 4)
    [lease] = fresh.usage.leases_of(user_id)
    [failure] = [e for e in events if e["total_tokens"] == 0]
    assert failure["reservation_id"] == lease.reservation_id
    spent = sum(e["total_tokens"] for e in events)
    assert after[0].headers[BALANCE_HEADER] == str(100_000 - spent)
    await assert_ledger_exact(fresh, user_id, 100_000, 4)


async def test_calls_keep_being_answered_from_a_lease_while_usage_refuses_connections(
    fresh: Stack,
) -> None:
    user_id, token = fresh.user(tokens=100_000)

    async with fresh.http(token) as http:
        await calls_in_a_row(http, user_id, 2)
        await fresh.usage.go_down()
        try:
            during = await calls_in_a_row(http, user_id, 5)
        finally:
            await fresh.usage.come_back()

    assert [r.status_code for r in during] == [200] * 5
    # The final shrink that failed while usage was down is sent again once it is back.
    await assert_ledger_exact(fresh, user_id, 100_000, 7)


async def test_with_leases_off_every_call_takes_its_own_hold(
    fresh: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # LLM_PROXY_LEASE_CALLS=0 builds the service without a lease book.
    monkeypatch.setattr(fresh.app.state.completions, "leases", None)
    user_id, token = fresh.user(tokens=100_000)
    asked, leases = fresh.usage.reservation_calls, fresh.usage.lease_asks

    async with fresh.http(token) as http:
        await calls_in_a_row(http, user_id, 5)

    assert fresh.usage.reservation_calls - asked == 5
    assert fresh.usage.lease_asks == leases
    await assert_ledger_exact(fresh, user_id, 100_000, 5)


async def test_a_usage_that_does_not_know_leases_still_answers_every_call_with_a_plain_hold(
    fresh: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fresh.usage, "knows_leases", False)
    monkeypatch.setattr(fresh.app.state.completions.reservations, "leases_unknown", False)
    user_id, token = fresh.user(tokens=100_000)

    async with fresh.http(token) as http:
        responses = await calls_in_a_row(http, user_id, 4)

    assert [r.status_code for r in responses] == [200] * 4
    assert fresh.usage.leases_of(user_id) == []
    await assert_ledger_exact(fresh, user_id, 100_000, 4)
