"""The rules of a hold, decided on facts alone: balance, caps, quotas, retries, TPM."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tollgate.shared.errors import (
    Conflict,
    Forbidden,
    PaymentRequired,
    TooManyRequests,
    UnprocessableEntity,
)
from tollgate.shared.security import Principal
from tollgate.usage.config import Settings
from tollgate.usage.ledger.domain import REFERENCE_PRICE, Price
from tollgate.usage.ledger.store import AccountRow, HoldRow, MemberRow
from tollgate.usage.members.payer import Payer
from tollgate.usage.reservations.decisions import Ask, decide
from tollgate.usage.reservations.minute_window import MinuteWindow
from tollgate.usage.reservations.schemas import ReservationOut, ReservationRequest

NOW = datetime(2026, 3, 15, 18, 0, tzinfo=UTC)
SETTINGS = Settings(default_completion_tokens=1_000)
PRICES = {"m": REFERENCE_PRICE}


def account(
    account_id: uuid.UUID, *, limits: dict[str, Any] | None = None, deleted: bool = False
) -> AccountRow:
    return AccountRow(
        id=account_id,
        kind="user",
        plan="custom",
        limits=limits,
        monthly_tokens=10_000,
        period_start=NOW - timedelta(days=3),
        period_end=NOW + timedelta(days=27),
        deleted_at=NOW if deleted else None,
    )


def ask(
    user: uuid.UUID,
    prompt: int,
    completion: int | None = None,
    *,
    request_id: str | None = None,
) -> Ask:
    request = ReservationRequest(
        request_id=request_id or uuid.uuid4().hex,
        model="m",
        prompt_tokens=prompt,
        max_completion_tokens=completion,
    )
    return Ask(Principal(sub=user, typ="access", exp=2**40), request)


def decide_alone(
    asks: list[Ask],
    available: int,
    *,
    payer: Payer | None = None,
    holder: AccountRow | None = None,
    made_today: int = 0,
    cap_spent: int | None = None,
    existing: dict[str, HoldRow] | None = None,
    minute: MinuteWindow | None = None,
) -> list[Any]:
    """Decide asks that all spend from one account."""
    user = asks[0].caller.user_id
    payer = payer or Payer(user, None)
    holder = holder or account(payer.account_id)
    pair = (payer.account_id, user)
    decisions = decide(
        SETTINGS,
        asks,
        [payer] * len(asks),
        {holder.id: holder},
        {holder.id: available},
        {pair: made_today},
        {} if cap_spent is None else {pair: cap_spent},
        {} if minute is None else {pair: minute},
        dict(existing or {}),
        PRICES,
        NOW,
    )
    return decisions.complete(asks)


def test_a_group_is_sized_one_after_another_against_what_the_earlier_ones_left() -> None:
    user = uuid.uuid4()

    first, second, third = decide_alone([ask(user, 30, 10) for _ in range(3)], available=100)

    assert isinstance(first, ReservationOut) and first.available == 60
    assert isinstance(second, ReservationOut) and second.available == 20
    assert isinstance(third, PaymentRequired)
    assert third.extra["available"] == 20


def test_without_a_completion_limit_the_hold_takes_what_fits_up_to_the_default() -> None:
    user = uuid.uuid4()

    (roomy,) = decide_alone([ask(user, 100)], available=50_000)
    (tight,) = decide_alone([ask(user, 100)], available=400)
    (none,) = decide_alone([ask(user, 100)], available=100)

    assert isinstance(roomy, ReservationOut)
    assert (roomy.held_tokens, roomy.max_completion_tokens) == (1_100, 1_000)
    assert isinstance(tight, ReservationOut)
    assert (tight.held_tokens, tight.max_completion_tokens) == (400, 300)
    assert isinstance(none, PaymentRequired)


def test_a_retried_request_id_gets_its_hold_back_even_with_nothing_left() -> None:
    user = uuid.uuid4()
    hold = HoldRow(
        id=uuid.uuid4(),
        request_id="retried",
        account_id=user,
        user_id=user,
        model="m",
        amount=500,
        max_completion_tokens=400,
        input_per_million=1_000_000,
        output_per_million=1_000_000,
        status="held",
        created_at=NOW - timedelta(seconds=2),
        expires_at=NOW + timedelta(minutes=10),
    )

    (answer,) = decide_alone(
        [ask(user, 100, 400, request_id="retried")], available=0, existing={"retried": hold}
    )

    assert isinstance(answer, ReservationOut)
    assert (answer.reservation_id, answer.held_tokens) == (hold.id, 500)


def test_a_request_id_twice_in_one_group_holds_once_and_another_user_gets_409() -> None:
    user, stranger = uuid.uuid4(), uuid.uuid4()
    asks = [
        ask(user, 10, 10, request_id="twice"),
        ask(user, 10, 10, request_id="twice"),
        ask(stranger, 10, 10, request_id="twice"),
    ]

    decisions = decide(
        SETTINGS,
        asks,
        [Payer(user, None), Payer(user, None), Payer(stranger, None)],
        {user: account(user), stranger: account(stranger)},
        {user: 1_000, stranger: 1_000},
        {},
        {},
        {},
        {},
        PRICES,
        NOW,
    )
    first, again, other = decisions.complete(asks)

    assert len(decisions.new_holds) == 1
    assert again == first
    assert isinstance(other, Conflict)


def test_the_daily_quota_refuses_until_midnight_utc() -> None:
    user = uuid.uuid4()
    limited = account(user, limits={"daily_requests": 5})

    (under,) = decide_alone([ask(user, 1, 1)], available=1_000, holder=limited, made_today=4)
    (over,) = decide_alone([ask(user, 1, 1)], available=1_000, holder=limited, made_today=5)

    assert isinstance(under, ReservationOut)
    assert isinstance(over, TooManyRequests)
    assert over.retry_after == 6 * 3600 + 1


def test_a_capped_member_may_hold_only_what_is_left_of_their_cap() -> None:
    user, org = uuid.uuid4(), uuid.uuid4()
    member = Payer(org, cap_tokens=1_000)

    (fits,) = decide_alone([ask(user, 100, 200)], available=50_000, payer=member, cap_spent=700)
    (too_much,) = decide_alone([ask(user, 100, 201)], available=50_000, payer=member, cap_spent=700)

    assert isinstance(fits, ReservationOut) and fits.account_id == org
    assert fits.available == 0
    assert isinstance(too_much, PaymentRequired)
    assert too_much.extra["available"] == 300


def test_a_deleted_account_and_a_refused_payer_hold_nothing() -> None:
    user = uuid.uuid4()
    disabled = Payer(uuid.uuid4(), None, refusal=Forbidden("This sub-user has been disabled"))

    gone = account(user, deleted=True)

    (deleted,) = decide_alone([ask(user, 1, 1)], available=1_000, holder=gone)
    (refused,) = decide_alone([ask(user, 1, 1)], available=1_000, payer=disabled)

    assert isinstance(deleted, Forbidden)
    assert refused is disabled.refusal


def test_a_sub_user_without_the_llm_permission_is_refused_and_holds_nothing() -> None:
    parent, sub_user = uuid.uuid4(), uuid.uuid4()
    terms = MemberRow(parent, sub_user, "sub_user", True, None, ["read"])
    (answer,) = decide_alone(
        [ask(sub_user, 100)], available=5_000, payer=Payer(parent, None, membership=terms)
    )
    assert isinstance(answer, Forbidden) and answer.type_slug == "llm-not-permitted"


def test_a_sub_user_given_the_llm_permission_may_hold() -> None:
    parent, sub_user = uuid.uuid4(), uuid.uuid4()
    terms = MemberRow(parent, sub_user, "sub_user", True, None, ["llm", "read"])
    (answer,) = decide_alone(
        [ask(sub_user, 100)], available=5_000, payer=Payer(parent, None, membership=terms)
    )
    assert isinstance(answer, ReservationOut)


def test_a_group_counts_each_admitted_call_against_the_minute_before_the_next() -> None:
    user = uuid.uuid4()
    limited = account(user, limits={"tokens_per_minute": 1_000})

    first, second, third = decide_alone(
        [ask(user, 200, 200) for _ in range(3)], available=50_000, holder=limited
    )

    assert isinstance(first, ReservationOut) and isinstance(second, ReservationOut)
    assert isinstance(third, TooManyRequests)
    assert third.type_slug == "tokens-per-minute-exceeded"
    assert third.retry_after == 60  # both earlier calls were made now: a whole minute
    assert third.extra == {"tokens_per_minute": 1_000, "requested_tokens": 400}


def test_the_call_that_would_exceed_the_minute_waits_until_enough_of_it_ages_out() -> None:
    user = uuid.uuid4()
    limited = account(user, limits={"tokens_per_minute": 1_000})

    def recent() -> MinuteWindow:
        return MinuteWindow(
            [(NOW - timedelta(seconds=50), 300), (NOW - timedelta(seconds=20), 600)]
        )

    (fits,) = decide_alone([ask(user, 50, 50)], available=50_000, holder=limited, minute=recent())
    (waits,) = decide_alone(
        [ask(user, 100, 200)], available=50_000, holder=limited, minute=recent()
    )

    assert isinstance(fits, ReservationOut)
    assert isinstance(waits, TooManyRequests)
    assert waits.retry_after == 10  # the oldest 300 leave the window in 10 s


def test_a_call_larger_than_the_whole_minute_is_refused_and_counts_nothing() -> None:
    user = uuid.uuid4()
    limited = account(user, limits={"tokens_per_minute": 1_000})
    window = MinuteWindow()

    (answer,) = decide_alone([ask(user, 600, 600)], available=50_000, holder=limited, minute=window)

    assert isinstance(answer, TooManyRequests)
    assert "lower max_tokens" in str(answer.detail)
    assert window.used(NOW) == 0


def test_without_max_tokens_a_call_may_answer_only_what_the_minute_allows() -> None:
    user = uuid.uuid4()
    limited = account(user, limits={"tokens_per_minute": 300})

    (answer,) = decide_alone([ask(user, 100)], available=50_000, holder=limited)

    assert isinstance(answer, ReservationOut)
    assert answer.max_completion_tokens == 200


def test_a_refusal_for_the_balance_counts_nothing_in_the_minute() -> None:
    user = uuid.uuid4()
    limited = account(user, limits={"tokens_per_minute": 1_000})
    window = MinuteWindow()

    (answer,) = decide_alone([ask(user, 300, 300)], available=100, holder=limited, minute=window)

    assert isinstance(answer, PaymentRequired)
    assert window.used(NOW) == 0


def test_a_model_without_a_price_cannot_be_reserved() -> None:
    user = uuid.uuid4()
    request = ReservationRequest(request_id="x", model="unpriced", prompt_tokens=10)

    (answer,) = decide_alone([Ask(Principal(sub=user, typ="access", exp=2**40), request)], 1_000)

    assert isinstance(answer, UnprocessableEntity)
    assert answer.type_slug == "model-not-priced"


def test_a_hold_is_sized_and_stamped_at_the_price_in_force() -> None:
    user = uuid.uuid4()
    request = ReservationRequest(
        request_id="dear", model="dear", prompt_tokens=10, max_completion_tokens=10
    )
    asks = [Ask(Principal(sub=user, typ="access", exp=2**40), request)]
    holder = account(user)

    decisions = decide(
        SETTINGS,
        asks,
        [Payer(user, None)],
        {user: holder},
        {user: 1_000},
        {},
        {},
        {},
        {},
        {"dear": Price(3_000_000, 5_000_000)},
        NOW,
    )

    (answer,) = decisions.complete(asks)
    (new_hold,) = decisions.new_holds
    assert isinstance(answer, ReservationOut)
    assert (answer.held_tokens, answer.input_per_million, answer.output_per_million) == (
        80,
        3_000_000,
        5_000_000,
    )
    assert (new_hold.amount, new_hold.price) == (80, Price(3_000_000, 5_000_000))
