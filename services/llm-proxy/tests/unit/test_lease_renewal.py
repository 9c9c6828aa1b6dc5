"""Renewing a lease ahead never drops one: each lease usage grants is shrunk final."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tollgate.llm_proxy.errors import InsufficientQuota, RefillLinks
from tollgate.llm_proxy.metering.leases import LeaseBook
from tollgate.llm_proxy.metering.reservations import Hold, LeaseTerms, Shrunk
from tollgate.shared.security import Principal

PRICE = (1_000_000, 1_000_000)  # a credit a token
LINKS = RefillLinks.under("https://tollgate.example")
CALL = {"prompt_tokens": 10, "max_completion_tokens": 10}  # 20 credits a call


class ScriptedUsage:
    """Usage's reservation contract, answering each asking only when the test says."""

    def __init__(self) -> None:
        self.asked: list[tuple[dict[str, Any], asyncio.Future[Hold]]] = []
        self.final_shrinks: set[uuid.UUID] = set()
        self.shrunk: list[uuid.UUID] = []
        self.granted: list[uuid.UUID] = []

    async def reserve(self, **ask: Any) -> Hold:
        answer: asyncio.Future[Hold] = asyncio.get_running_loop().create_future()
        self.asked.append((ask, answer))
        return await answer

    async def shrink(
        self,
        reservation_id: uuid.UUID,
        user_token: str,
        *,
        credits: int,
        tokens: int,
        calls: int,
        final: bool,
    ) -> Shrunk:
        self.shrunk.append(reservation_id)
        if final:
            self.final_shrinks.add(reservation_id)
        return Shrunk.DONE

    async def release(self, hold: Hold, user_token: str) -> None:
        raise AssertionError("no plain hold is answered to a lease's asking here")

    def answer_all(self, refuse_renewals: bool = False) -> None:
        """Grant every asking waiting, renewals first: a lease where one was asked."""
        waiting = sorted(self.asked, key=lambda a: not a[0]["request_id"].startswith("lease-"))
        self.asked = []
        for ask, answer in waiting:
            if refuse_renewals and ask["request_id"].startswith("lease-renewal-"):
                answer.set_exception(InsufficientQuota("Not enough credits", links=LINKS))
                continue
            lease = ask["lease"]
            granted = uuid.uuid4()
            self.granted.append(granted)
            answer.set_result(
                Hold(
                    reservation_id=granted,
                    account_id="a",
                    held_tokens=20,
                    max_completion_tokens=10,
                    available=1_000_000,
                    input_per_million=PRICE[0],
                    output_per_million=PRICE[1],
                    terms=None
                    if lease is None
                    else LeaseTerms(
                        credits=lease.calls * 20,
                        tokens=lease.calls * 20,
                        calls=lease.calls,
                        use_until=datetime.now(UTC) + timedelta(seconds=5),
                        default_completion_tokens=4096,
                        tokens_per_minute=None,
                    ),
                )
            )


async def settle(
    usage: ScriptedUsage, task: asyncio.Task[Hold], *, refuse_renewals: bool = False
) -> Hold:
    """Answer what is asked until the call has its hold."""
    while not task.done():
        await asyncio.sleep(0.01)
        usage.answer_all(refuse_renewals)
    return task.result()


def a_book(
    usage: ScriptedUsage, *, most_calls: int = 4, seconds: int = 5, idle_seconds: float = 60
) -> LeaseBook:
    return LeaseBook(
        usage,  # type: ignore[arg-type]
        calls=4,
        most_calls=most_calls,
        seconds=seconds,
        idle_seconds=idle_seconds,
        ttl_seconds=60,
    )


async def test_a_call_the_old_lease_cannot_cover_waits_for_its_renewal() -> None:
    usage = ScriptedUsage()
    book = a_book(usage)
    caller = Principal(sub=uuid.uuid4(), typ="access", exp=2**40, token="t")

    def spend() -> Hold | None:
        return book.spend(caller, "m", **CALL)

    def ask(n: int) -> asyncio.Task[Hold]:  # a call the caller's lease does not cover
        return asyncio.create_task(book.hold(caller, "m", f"call-{n}", **CALL))

    await settle(usage, ask(1))  # a lone call: a plain hold
    first = await settle(usage, ask(2))  # busy: a lease of 4 calls, this one its first
    assert first.lease is not None
    go = asyncio.Event()

    async def a_call_already_under_way() -> Hold:
        await go.wait()
        # As the completion service does: the lease if it covers the call, else ask.
        return spend() or await book.hold(caller, "m", "call-3", **CALL)

    waiting = asyncio.create_task(a_call_already_under_way())
    await asyncio.sleep(0)
    assert spend() is not None
    go.set()  # the call under way goes on before anything started from here
    # This call leaves the lease three quarters used, which starts asking for its
    # successor; the next takes the lease's last call.
    assert spend() is not None and spend() is not None
    # The call under way finds the lease used up in that same moment: it waits for the
    # asking already started rather than retiring the lease and asking beside it.
    await asyncio.sleep(0.01)
    assert [a["request_id"][:14] for a, _ in usage.asked] == ["lease-renewal-"]
    renewed = await settle(usage, waiting)

    assert renewed.lease is not None and renewed.reservation_id != first.reservation_id
    await book.close()  # shrinks every lease final, as at shutdown
    # Every lease usage granted (the plain hold aside) was shrunk final: none was dropped.
    assert len(usage.granted) == 3
    assert usage.final_shrinks == set(usage.granted[1:])


async def test_a_refused_renewal_leaves_the_old_lease_serving_then_a_call_asks_itself() -> None:
    usage = ScriptedUsage()
    book = a_book(usage)
    caller = Principal(sub=uuid.uuid4(), typ="access", exp=2**40, token="t")

    def spend() -> Hold | None:
        return book.spend(caller, "m", **CALL)

    await settle(usage, asyncio.create_task(book.hold(caller, "m", "call-1", **CALL)))
    first = await settle(usage, asyncio.create_task(book.hold(caller, "m", "call-2", **CALL)))
    assert spend() is not None and spend() is not None  # three quarters: a renewal asked
    await asyncio.sleep(0.01)
    usage.answer_all(refuse_renewals=True)  # usage says no (the old lease holds the rest)
    await asyncio.sleep(0.01)

    assert spend() is not None, "the old lease still serves what it covers"
    assert spend() is None
    # The next call it cannot cover retires it (usage hears what it still needs first)
    # and asks for the next lease with itself as its first call.
    asking = asyncio.create_task(book.hold(caller, "m", "call-3", **CALL))
    await asyncio.sleep(0.01)
    assert usage.shrunk == [first.reservation_id]
    [(ask, _)] = usage.asked
    assert ask["request_id"] == "call-3" and ask["lease"] is not None
    nxt = await settle(usage, asking)
    assert nxt.lease is not None and nxt.reservation_id != first.reservation_id


async def test_a_busy_callers_leases_double_up_to_the_most_then_halve_when_time_runs_out() -> None:
    usage = ScriptedUsage()
    book = a_book(usage, most_calls=16, seconds=1)
    caller = Principal(sub=uuid.uuid4(), typ="access", exp=2**40, token="t")

    def spend() -> Hold | None:
        return book.spend(caller, "m", **CALL)

    async def renewal_asked_for() -> int:
        """Spend until the lease asks for its successor; the calls that one asks room for."""
        while not usage.asked:
            assert spend() is not None
            await asyncio.sleep(0)
        calls: int = usage.asked[0][0]["lease"].calls
        usage.answer_all()
        await asyncio.sleep(0.01)
        return calls

    await settle(usage, asyncio.create_task(book.hold(caller, "m", "call-1", **CALL)))
    first = await settle(usage, asyncio.create_task(book.hold(caller, "m", "call-2", **CALL)))
    assert first.lease is not None and first.lease.calls == 4

    # Each lease used up by its calls: the next asks room for twice as many, to the most.
    assert [await renewal_asked_for() for _ in range(4)] == [8, 16, 16, 16]

    # A lease whose time runs out first (three quarters of its second gone, few calls):
    # the next asks for half.
    await asyncio.sleep(0.8)
    assert spend() is not None
    await asyncio.sleep(0)
    [(ask, _)] = usage.asked
    assert ask["lease"].calls == 8
    usage.answer_all()
    await book.close()
    assert usage.final_shrinks == set(usage.granted[1:])


async def test_a_lease_given_back_for_idleness_leaves_the_next_one_at_the_base_size() -> None:
    usage = ScriptedUsage()
    book = a_book(usage, most_calls=16, idle_seconds=0.05)
    caller = Principal(sub=uuid.uuid4(), typ="access", exp=2**40, token="t")

    def ask(n: int) -> asyncio.Task[Hold]:
        return asyncio.create_task(book.hold(caller, "m", f"call-{n}", **CALL))

    await settle(usage, ask(1))
    first = await settle(usage, ask(2))
    assert first.lease is not None
    for hold in (first, book.spend(caller, "m", **CALL), book.spend(caller, "m", **CALL)):
        assert hold is not None and hold.lease is not None
        hold.lease.finish(hold, 10, 5)
    await asyncio.sleep(0.01)
    [(renewal, _)] = usage.asked
    assert renewal["lease"].calls == 8  # used up by its calls: the next is twice the size
    usage.answer_all()
    await asyncio.sleep(0.1)  # the caller pauses longer than a lease may idle
    await book.sweep()  # gives the idle lease back

    nxt = ask(3)  # still busy (within LEASE_SECONDS): a lease is asked, at the base size
    await asyncio.sleep(0.01)
    [(asked, _)] = usage.asked
    assert asked["lease"].calls == 4
    await settle(usage, nxt)
    await book.close()
