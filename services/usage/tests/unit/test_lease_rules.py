"""The rules of a lease, decided on facts alone: half the room, the minute, the day, caps,
and a shrink that only ever lowers."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from test_reservation_decisions import NOW, SETTINGS, account, decide_alone

from tollgate.shared.errors import PaymentRequired, TooManyRequests
from tollgate.shared.security import Principal
from tollgate.usage.ledger.domain import REFERENCE_PRICE
from tollgate.usage.members.payer import Payer
from tollgate.usage.reservations.decisions import Ask, decide, shrink, size_lease
from tollgate.usage.reservations.minute_window import MinuteWindow
from tollgate.usage.reservations.schemas import (
    LeaseAsk,
    ReservationOut,
    ReservationRequest,
    ShrinkIn,
)

ROOMY = LeaseAsk(credits=10**9, tokens=10**8, calls=10_000, seconds=5)
UNLIMITED = {"tokens_per_minute": None, "daily_requests": None}


def leased(
    user: uuid.UUID,
    prompt: int,
    completion: int,
    lease: LeaseAsk = ROOMY,
    *,
    request_id: str | None = None,
    ttl: int | None = None,
) -> Ask:
    request = ReservationRequest(
        request_id=request_id or uuid.uuid4().hex,
        model="m",
        prompt_tokens=prompt,
        max_completion_tokens=completion,
        ttl_seconds=ttl,
        lease=lease,
    )
    return Ask(Principal(sub=user, typ="access", exp=2**40), request)


def told(credits: int, tokens: int = 0, calls: int = 0, *, final: bool = False) -> ShrinkIn:
    return ShrinkIn(credits=credits, tokens=tokens, calls=calls, final=final)


def test_a_lease_takes_at_most_half_of_what_its_first_call_leaves() -> None:
    room = size_lease(ROOMY, room=10_000, held=200, minute_left=None, calls_left=None)
    modest = size_lease(
        LeaseAsk(credits=1_000, tokens=5, calls=3, seconds=5),
        room=10_000,
        held=200,
        minute_left=None,
        calls_left=None,
    )

    assert room.credits == 4_900
    assert (room.tokens, room.calls) == (ROOMY.tokens, ROOMY.calls)
    assert (modest.credits, modest.tokens, modest.calls) == (1_000, 5, 3)


def test_a_lease_gets_no_more_tokens_or_calls_than_the_minute_and_the_day_leave() -> None:
    tight = size_lease(ROOMY, room=10_000, held=200, minute_left=700, calls_left=2)
    spent = size_lease(ROOMY, room=200, held=200, minute_left=-50, calls_left=0)

    assert (tight.tokens, tight.calls) == (700, 2)
    assert (spent.credits, spent.tokens, spent.calls) == (0, 0, 0)


def test_a_granted_lease_holds_its_call_and_its_room_and_says_so() -> None:
    user = uuid.uuid4()
    ask = leased(user, 100, 100, ttl=30)

    (answer,) = decide_alone([ask], available=10_000, holder=account(user, limits=UNLIMITED))

    assert isinstance(answer, ReservationOut) and answer.lease is not None
    assert answer.held_tokens == answer.lease.credits == 200 + 4_900
    assert answer.available == 10_000 - 5_100
    assert answer.max_completion_tokens == 100
    assert (answer.lease.tokens, answer.lease.calls) == (200 + ROOMY.tokens, 1 + ROOMY.calls)
    assert answer.lease.use_until == NOW + timedelta(seconds=5)
    assert answer.expires_at == NOW + timedelta(seconds=5 + 30)
    assert answer.lease.default_completion_tokens == SETTINGS.default_completion_tokens
    assert answer.lease.tokens_per_minute is None


def test_a_lease_counts_its_whole_budget_against_the_minute_for_the_next_call() -> None:
    user = uuid.uuid4()
    limited = account(user, limits={"tokens_per_minute": 1_000})
    window = MinuteWindow([(NOW - timedelta(seconds=10), 300)])

    lease, after = decide_alone(
        [leased(user, 100, 100), leased(user, 1, 0)],
        available=50_000,
        holder=limited,
        minute=window,
    )

    assert isinstance(lease, ReservationOut) and lease.lease is not None
    assert lease.lease.tokens == 700  # 1,000 less the 300 counted: 200 its own, 500 room
    assert lease.lease.tokens_per_minute == 1_000
    assert isinstance(after, TooManyRequests)
    assert window.used(NOW) == 1_000


def test_a_lease_counts_its_calls_against_the_daily_quota() -> None:
    user = uuid.uuid4()
    limited = account(user, limits={"daily_requests": 5})

    lease, after = decide_alone(
        [leased(user, 1, 1), leased(user, 1, 1)], available=1_000, holder=limited, made_today=2
    )

    assert isinstance(lease, ReservationOut) and lease.lease is not None
    assert lease.lease.calls == 3  # this call and the two the day leaves
    assert isinstance(after, TooManyRequests) and after.type_slug == "daily-quota-exceeded"


def test_a_member_spending_from_an_organizations_pool_gets_a_hold_per_call_not_a_lease() -> None:
    user, org = uuid.uuid4(), uuid.uuid4()
    member = Payer(org, cap_tokens=1_000)
    decisions = decide(
        SETTINGS,
        [leased(user, 100, 100), leased(user, 100, 100)],
        [member, member],
        {org: account(org, limits=UNLIMITED)},
        {org: 50_000},
        {},
        {(org, user): 200},
        {},
        {},
        {"m": REFERENCE_PRICE},
        NOW,
    )

    # The owner may lower the cap or remove the member at any moment: each call is
    # decided when it is made, and the cap counts exactly the calls' own holds.
    first, second = decisions.answers
    assert isinstance(first, ReservationOut) and (first.held_tokens, first.lease) == (200, None)
    assert isinstance(second, ReservationOut) and (second.held_tokens, second.lease) == (200, None)
    assert [h.lease_until for h in decisions.new_holds] == [None, None]


def test_a_call_that_does_not_fit_gets_no_lease_and_counts_nothing() -> None:
    user = uuid.uuid4()
    window = MinuteWindow()
    limited = account(user, limits={"tokens_per_minute": 10_000})

    (answer,) = decide_alone([leased(user, 300, 300)], available=100, holder=limited, minute=window)

    assert isinstance(answer, PaymentRequired)
    assert window.used(NOW) == 0


def test_a_retried_lease_request_gets_the_same_lease_whatever_is_left() -> None:
    user = uuid.uuid4()
    first = leased(user, 100, 100, request_id="lease-once")
    decisions = decide(*_alone(first, 10_000), {}, {"m": REFERENCE_PRICE}, NOW)
    (granted,) = decisions.answers
    (row,) = decisions.new_holds
    drawn = row._replace(amount=7)  # its calls drew from it since

    again = decide(*_alone(first, 0), {"lease-once": drawn}, {"m": REFERENCE_PRICE}, NOW)

    (answer,) = again.answers
    assert isinstance(granted, ReservationOut) and isinstance(answer, ReservationOut)
    assert (answer.reservation_id, answer.held_tokens, answer.lease) == (
        granted.reservation_id,
        granted.held_tokens,
        granted.lease,
    )
    assert again.new_holds == []


def test_a_shrink_lowers_a_lease_to_what_is_spent_less_what_already_settled() -> None:
    before_events = shrink(5_000, 0, 33, False, told(1_200, calls=4))
    after_events = shrink(5_000 - 1_200, 1_200, 33, False, told(1_200, calls=4))

    assert (before_events.held, before_events.calls) == (1_200, 4)
    assert (after_events.held, after_events.calls) == (0, 4)
    assert not before_events.closes and not after_events.closes


def test_a_shrink_never_raises_what_a_lease_holds_or_counts() -> None:
    once = shrink(5_000, 0, 33, False, told(1_200, calls=4))
    twice = shrink(once.held, 0, once.calls, once.final, told(1_200, calls=4))
    older = shrink(once.held, 0, once.calls, once.final, told(3_000, calls=9))

    assert once == twice == older


def test_a_final_shrink_closes_a_lease_only_once_it_holds_nothing() -> None:
    waiting = shrink(5_000, 0, 33, False, told(800, calls=2, final=True))
    settled = shrink(5_000 - 800, 800, 33, False, told(800, calls=2, final=True))
    later = shrink(waiting.held, 0, waiting.calls, waiting.final, told(800, calls=2))

    assert (waiting.held, waiting.final, waiting.closes) == (800, True, False)
    assert (settled.held, settled.closes) == (0, True)
    assert later.final  # a later shrink without final does not reopen it


def _alone(ask: Ask, available: int) -> tuple[Any, ...]:
    user = ask.caller.user_id
    return (
        SETTINGS,
        [ask],
        [Payer(user, None)],
        {user: account(user)},
        {user: available},
        {},
        {},
        {},
    )
