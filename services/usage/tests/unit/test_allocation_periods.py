"""Allocation months: the free plan renews for ever, a paid term month by month to its end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from tollgate.usage.ledger.domain import add_month, current_period, term_period

JAN_31 = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)


def months_of_term(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Every allocation month of a term, as renewal walks through it a second at a time
    past each month's end."""
    months = [term_period(start, end, start, renews=False)]
    while months[-1][1] < end:
        months.append(term_period(start, end, months[-1][1] + timedelta(seconds=1), renews=False))
    return months


def test_a_yearly_term_is_allocated_twelve_times_even_when_it_starts_on_the_31st() -> None:
    year_end = add_month(JAN_31, 12)

    months = months_of_term(JAN_31, year_end)

    assert len(months) == 12
    assert months[0] == (JAN_31, datetime(2026, 2, 28, 9, 0, tzinfo=UTC))
    assert months[-1][1] == year_end
    assert all(earlier[1] == later[0] for earlier, later in pairwise(months))


def test_a_monthly_term_and_a_trial_are_one_allocation_each() -> None:
    month_end = add_month(JAN_31)
    trial_end = JAN_31 + timedelta(days=14)

    assert months_of_term(JAN_31, month_end) == [(JAN_31, month_end)]
    assert months_of_term(JAN_31, trial_end) == [(JAN_31, trial_end)]
    # A period a few hours longer than the calendar month is still one month.
    assert months_of_term(JAN_31, month_end + timedelta(hours=5)) == [
        (JAN_31, month_end + timedelta(hours=5))
    ]


def test_a_yearly_term_seen_in_its_fifth_month_is_in_that_month() -> None:
    start = datetime(2026, 3, 10, tzinfo=UTC)
    now = datetime(2026, 7, 20, tzinfo=UTC)

    assert term_period(start, add_month(start, 12), now, renews=False) == (
        datetime(2026, 7, 10, tzinfo=UTC),
        datetime(2026, 8, 10, tzinfo=UTC),
    )


def test_a_paid_term_that_ended_stays_in_its_last_month_until_billing_says_more() -> None:
    start = datetime(2026, 3, 10, tzinfo=UTC)
    end = add_month(start)
    long_after = end + timedelta(days=50)

    assert current_period(start, end, long_after, end) == (start, end)


def test_the_free_plan_renews_on_its_own_past_its_end() -> None:
    start = datetime(2026, 3, 10, tzinfo=UTC)
    end = add_month(start)

    assert term_period(start, end, end + timedelta(days=40), renews=True) == (
        datetime(2026, 5, 10, tzinfo=UTC),
        datetime(2026, 6, 10, tzinfo=UTC),
    )
