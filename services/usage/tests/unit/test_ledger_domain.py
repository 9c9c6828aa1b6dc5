"""The ledger's arithmetic: who pays first, what fits, what a late call may take."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tollgate.usage.config import Settings
from tollgate.usage.ledger.domain import (
    GrantState,
    InsufficientTokens,
    add_month,
    draw,
    size_hold,
    spendable_for_settlement,
    spending_order,
)

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def grant(
    amount: int,
    *,
    used: int = 0,
    expires_in_days: float | None = 30,
    priority: int = 0,
    started_days_ago: float = 1,
) -> GrantState:
    return GrantState(
        id=uuid.uuid4(),
        amount=amount,
        used=used,
        priority=priority,
        starts_at=NOW - timedelta(days=started_days_ago),
        expires_at=None if expires_in_days is None else NOW + timedelta(days=expires_in_days),
    )


def test_the_grant_expiring_first_is_spent_first() -> None:
    later, sooner, never = (
        grant(100, expires_in_days=60),
        grant(100, expires_in_days=5),
        grant(100, expires_in_days=None),
    )

    assert spending_order([never, later, sooner]) == [sooner, later, never]


def test_priority_decides_between_grants_expiring_together() -> None:
    low, high = grant(100, priority=1), grant(100, priority=9)

    assert spending_order([low, high]) == [high, low]


def test_a_draw_spills_over_to_the_next_grant_when_the_first_runs_out() -> None:
    sooner, later = grant(100, used=60, expires_in_days=1), grant(500)

    assert draw([later, sooner], 140) == [(sooner.id, 40), (later.id, 100)]


def test_a_draw_never_takes_more_than_the_grants_hold() -> None:
    with pytest.raises(ValueError, match="hold 100 of the 101"):
        draw([grant(100)], 101)
    with pytest.raises(ValueError):
        draw([grant(100)], -1)


def test_a_hold_is_the_prompt_plus_the_requested_completion() -> None:
    size = size_hold(1_000, 500, available=2_000, default_completion_cap=4_096)

    assert (size.held_tokens, size.max_completion_tokens) == (1_500, 500)


def test_without_a_cap_the_hold_takes_what_fits_up_to_the_plan_default() -> None:
    roomy = size_hold(1_000, None, available=100_000, default_completion_cap=4_096)
    tight = size_hold(1_000, None, available=1_300, default_completion_cap=4_096)

    assert roomy.held_tokens == 5_096
    assert (tight.held_tokens, tight.max_completion_tokens) == (1_300, 300)


def test_a_call_that_does_not_fit_is_refused_with_what_is_available() -> None:
    with pytest.raises(InsufficientTokens) as refused:
        size_hold(1_000, 500, available=1_499, default_completion_cap=4_096)
    assert refused.value.available == 1_499
    with pytest.raises(InsufficientTokens):
        size_hold(1_000, None, available=1_000, default_completion_cap=4_096)


def test_a_reservation_of_nothing_is_a_mistake_not_a_balance_problem() -> None:
    with pytest.raises(ValueError, match="at least one token"):
        size_hold(0, 0, available=10, default_completion_cap=4_096)


def test_a_settling_call_cannot_take_tokens_other_holds_set_aside() -> None:
    active = grant(1_000)

    assert spendable_for_settlement([active], other_holds=700, now=NOW) == 300
    assert spendable_for_settlement([active], other_holds=5_000, now=NOW) == 0


def test_a_call_that_began_before_its_grant_lapsed_may_still_draw_on_it() -> None:
    lapsed = grant(1_000, used=400, expires_in_days=-0.01)
    current = grant(1_000)

    assert spendable_for_settlement([lapsed, current], other_holds=1_000, now=NOW) == 600


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (datetime(2026, 1, 31, 9, tzinfo=UTC), datetime(2026, 2, 28, 9, tzinfo=UTC)),
        (datetime(2026, 12, 15, tzinfo=UTC), datetime(2027, 1, 15, tzinfo=UTC)),
        (datetime(2028, 1, 30, tzinfo=UTC), datetime(2028, 2, 29, tzinfo=UTC)),
    ],
)
def test_free_periods_renew_a_calendar_month_later(start: datetime, expected: datetime) -> None:
    assert add_month(start) == expected


def test_low_balance_thresholds_come_from_a_percent_list() -> None:
    settings = Settings(low_balance_percents="10, 20,5")

    assert settings.low_balance_thresholds == [20, 10, 5]
    assert settings.reservation_client_subjects == frozenset({"service:llm-proxy"})
