"""A lease sizes and takes each call in memory by the shared credits rule."""

from __future__ import annotations

import time
import uuid

from tollgate.llm_proxy.metering.leases import Lease
from tollgate.shared.credits import Price, charge, size_hold

PRICE = Price(2_000_000, 8_000_000)  # 2 credits per input token, 8 per output token


def a_lease(credits: int = 10_000, tokens: int = 10_000, calls: int = 32) -> Lease:
    now = time.monotonic()
    return Lease(
        reservation_id=uuid.uuid4(),
        account_id="a",
        user_token="t",
        price=PRICE,
        credits=credits,
        tokens=tokens,
        calls=calls,
        default_cap=4096,
        per_minute=None,
        available=5_000,
        use_until=now + 5,
        expires=now + 605,
        spent_credits=0,
        spent_tokens=0,
        started=1,
        in_flight=0,
    )


def test_a_call_from_a_lease_is_held_exactly_as_usage_would_hold_it() -> None:
    lease = a_lease()

    hold = lease.spend(10, 20, time.monotonic())

    assert hold is not None
    assert hold.held_tokens == charge(PRICE, 10, 20) == 180
    assert hold.reservation_id == lease.reservation_id and hold.lease is lease
    assert (lease.spent_credits, lease.spent_tokens, lease.started) == (180, 30, 2)
    assert hold.available == 5_000 + 10_000 - 180


def test_a_call_without_max_tokens_gets_what_the_lease_has_left_up_to_the_plan_cap() -> None:
    lease = a_lease(credits=1_000)

    hold = lease.spend(100, None, time.monotonic())

    expected = size_hold(PRICE, 100, None, 1_000, 4096)
    assert hold is not None and hold.max_completion_tokens == expected.max_completion_tokens == 100
    assert hold.held_tokens == expected.held_credits == 1_000


def test_a_finished_call_gives_back_what_it_did_not_use() -> None:
    lease = a_lease()
    hold = lease.spend(10, 20, time.monotonic())
    assert hold is not None

    lease.finish(hold, 10, 3)

    assert lease.spent_credits == charge(PRICE, 10, 3) == 44
    assert lease.spent_tokens == 13 and lease.in_flight == 0
    assert lease.balance() == 5_000 + 10_000 - 44


def test_a_call_that_failed_before_any_token_gives_its_whole_share_back_but_counts_as_a_call() -> (
    None
):
    lease = a_lease()
    hold = lease.spend(10, 20, time.monotonic())
    assert hold is not None

    lease.finish(hold, 0, 0)

    assert (lease.spent_credits, lease.spent_tokens, lease.started) == (0, 0, 2)


def test_a_lease_covers_no_call_beyond_its_credits_tokens_calls_or_time() -> None:
    now = time.monotonic()
    assert a_lease(credits=179).spend(10, 20, now) is None
    assert a_lease(tokens=29).spend(10, 20, now) is None
    assert a_lease(calls=1).spend(10, 20, now) is None
    assert a_lease().spend(10, 20, now + 6) is None
    refused = a_lease(credits=179)
    refused.spend(10, 20, now)
    assert (refused.spent_credits, refused.started) == (0, 1), "a refused call takes nothing"
