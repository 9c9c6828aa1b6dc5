"""Settling the calls of a lease on facts alone: each draws from what the one before
left, the lease stays open, and a lease shrunk final closes once it holds nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

from test_settlement import ACCOUNT, NOW, call, grant, hold

from tollgate.usage.ledger.store import HoldRow
from tollgate.usage.metering.decisions import Call, settle


def lease(amount: int, *, status: str = "held", final: bool = False) -> HoldRow:
    return hold(amount, status=status)._replace(
        lease_until=NOW + timedelta(seconds=5),
        lease_credits=amount,
        lease_tokens=amount,
        lease_calls=32,
        lease_default_completion_tokens=1_000,
        lease_final=final,
    )


def of(held: HoldRow, tokens: int) -> Call:
    """One more call of the lease: its own request_id, the lease's id."""
    one = call(tokens, held=held)
    event = one.event.model_copy(update={"request_id": uuid.uuid4().hex})
    return Call(event, one.account_id, held)


def test_calls_of_a_lease_in_one_batch_each_draw_from_what_the_one_before_left() -> None:
    pool, leased = grant(10_000), lease(1_000)

    result = settle(
        [of(leased, 300), of(leased, 400), of(leased, 200)],
        {ACCOUNT: {pool.id: pool}},
        {ACCOUNT: {leased.id: 1_000}},
        NOW,
    )

    assert [r.charged_credits for r in result.usage] == [300, 400, 200]
    assert result.grants_used == {pool.id: 900}
    assert {s.hold_id for s in result.spends} == {leased.id}
    (draw,) = result.leases.values()
    assert (draw.held, draw.charged, draw.closes) == (100, 900, False)
    assert result.committed == {}  # the lease stays open
    assert result.paid == {ACCOUNT: 10_000 - 900 - 100}


def test_a_call_beyond_what_the_lease_still_holds_takes_only_what_other_holds_leave() -> None:
    pool, leased, theirs = grant(1_000), lease(300), hold(600)

    result = settle(
        [of(leased, 200), of(leased, 500)],
        {ACCOUNT: {pool.id: pool}},
        {ACCOUNT: {leased.id: 300, theirs.id: 600}},
        NOW,
    )

    # 1,000 granted, 600 of them someone else's: the lease's calls share the other 400.
    assert [r.charged_credits for r in result.usage] == [200, 200]
    assert result.leases[leased.id].held == 0


def test_a_lease_shrunk_final_is_committed_once_its_calls_drew_all_it_held() -> None:
    pool, waiting = grant(10_000), lease(700, final=True)

    partly = settle(
        [of(waiting, 300)], {ACCOUNT: {pool.id: pool}}, {ACCOUNT: {waiting.id: 700}}, NOW
    )
    wholly = settle(
        [of(waiting, 300), of(waiting, 400)],
        {ACCOUNT: {pool.id: pool}},
        {ACCOUNT: {waiting.id: 700}},
        NOW,
    )

    assert not partly.leases[waiting.id].closes
    assert wholly.leases[waiting.id] == (0, 700, True)


def test_a_call_of_an_expired_lease_is_charged_like_one_whose_hold_expired() -> None:
    pool, gone, theirs = grant(1_000), lease(500, status="expired"), hold(600)

    result = settle(
        [of(gone, 700)],
        {ACCOUNT: {pool.id: pool}},
        {ACCOUNT: {theirs.id: 600}},
        NOW,
    )

    assert [r.charged_credits for r in result.usage] == [400]
    assert result.leases == {} and result.committed == {}
    assert [s.hold_id for s in result.spends] == [None]
