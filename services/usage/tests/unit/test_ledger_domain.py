"""The ledger's arithmetic: who pays first, what fits, what a late call may take."""

from __future__ import annotations

import importlib.util
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tollgate.usage.config import Settings
from tollgate.usage.ledger.domain import (
    REFERENCE_PRICE,
    GrantState,
    InsufficientTokens,
    Price,
    add_month,
    charge,
    draw,
    price_relative_to_reference,
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
    size = size_hold(REFERENCE_PRICE, 1_000, 500, available=2_000, default_completion_cap=4_096)

    assert (size.held_credits, size.max_completion_tokens) == (1_500, 500)


def test_without_a_cap_the_hold_takes_what_fits_up_to_the_plan_default() -> None:
    roomy = size_hold(REFERENCE_PRICE, 1_000, None, available=100_000, default_completion_cap=4_096)
    tight = size_hold(REFERENCE_PRICE, 1_000, None, available=1_300, default_completion_cap=4_096)

    assert roomy.held_credits == 5_096
    assert (tight.held_credits, tight.max_completion_tokens) == (1_300, 300)


def test_a_call_that_does_not_fit_is_refused_with_what_is_available() -> None:
    with pytest.raises(InsufficientTokens) as refused:
        size_hold(REFERENCE_PRICE, 1_000, 500, available=1_499, default_completion_cap=4_096)
    assert refused.value.available == 1_499
    with pytest.raises(InsufficientTokens):
        size_hold(REFERENCE_PRICE, 1_000, None, available=1_000, default_completion_cap=4_096)


def test_a_reservation_of_nothing_is_a_mistake_not_a_balance_problem() -> None:
    with pytest.raises(ValueError, match="at least one token"):
        size_hold(REFERENCE_PRICE, 0, 0, available=10, default_completion_cap=4_096)


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


def test_a_call_costs_its_tokens_at_the_price_rounded_up_once_per_call() -> None:
    gpt_4o = Price(16_666_667, 16_666_667)

    assert charge(REFERENCE_PRICE, 1_000, 500) == 1_500
    assert charge(gpt_4o, 1, 0) == 17  # 16.666667 credits: a part of a credit is a credit
    assert charge(gpt_4o, 3, 0) == 51  # 50.000001: the rule rounds the call, not each token
    assert charge(Price(1, 1), 0, 0) == 0
    assert charge(Price(1, 1), 1, 0) == 1


def test_the_ledger_equals_the_sum_of_each_calls_charge_never_the_charge_of_the_sum() -> None:
    haiku = Price(5_333_334, 6_666_667)
    calls = [(7 * i % 97, 13 * i % 89) for i in range(1, 500)]

    per_call = [charge(haiku, prompt, completion) for prompt, completion in calls]

    exact = [
        -(-(p * 5_333_334 + c * 6_666_667) // 1_000_000) for p, c in calls
    ]  # the rule written out in integers, for each call on its own
    assert per_call == exact
    assert sum(per_call) >= charge(haiku, sum(p for p, _ in calls), sum(c for _, c in calls))


def test_a_hold_is_what_the_largest_call_would_cost_at_the_models_price() -> None:
    sonnet = Price(20_000_000, 25_000_000)

    size = size_hold(sonnet, 100, 50, available=10_000, default_completion_cap=4_096)

    assert (size.held_credits, size.max_completion_tokens) == (100 * 20 + 50 * 25, 50)


def test_without_a_completion_limit_a_dear_model_holds_the_completion_the_credits_pay_for() -> None:
    sonnet = Price(20_000_000, 25_000_000)

    size = size_hold(sonnet, 100, None, available=3_000, default_completion_cap=4_096)

    # 2,000 credits pay the prompt; the other 1,000 pay 40 output tokens at 25 each.
    assert (size.held_credits, size.max_completion_tokens) == (3_000, 40)
    with pytest.raises(InsufficientTokens):
        size_hold(sonnet, 100, None, available=2_024, default_completion_cap=4_096)


def test_zero_negative_and_absurd_prices_are_not_prices() -> None:
    for bad in ((0, 1), (1, -5), (1, 100_000_000_001)):
        with pytest.raises(ValueError, match="price per million"):
            Price(*bad)


def test_the_seeded_prices_follow_the_provider_cost_relative_to_the_reference() -> None:
    catalog_costs = {  # USD per million in / out, the default catalog's
        "gpt-4o-mini": ("0.15", "0.60"),
        "gpt-4o": ("2.50", "10.00"),
        "claude-3-5-haiku": ("0.80", "4.00"),
        "claude-sonnet-4": ("3.00", "15.00"),
        "text-embedding-3-small": ("0.02", "0"),
    }
    reference_in, reference_out = (Decimal(c) for c in catalog_costs["gpt-4o-mini"])

    derived = {
        model: (
            price_relative_to_reference(Decimal(cost_in), reference_in),
            price_relative_to_reference(Decimal(cost_out), reference_out),
        )
        for model, (cost_in, cost_out) in catalog_costs.items()
    }

    assert derived == SEED_PRICES


def _seed_prices() -> dict[str, tuple[int, int]]:
    path = Path(__file__).resolve().parents[2] / "migrations/versions/0009_model_prices.py"
    spec = importlib.util.spec_from_file_location("model_prices_migration", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    seeds: dict[str, tuple[int, int]] = migration.SEED_PRICES
    return seeds


SEED_PRICES = _seed_prices()
