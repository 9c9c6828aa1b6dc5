"""How an account's plan follows Stripe's subscription, decided without any I/O."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from tollgate.billing.subscriptions.domain import (
    AccountPlan,
    StripeSubscription,
    add_month,
    apply_stripe,
)

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
START = int(NOW.timestamp())
END = int(add_month(NOW).timestamp())


def free() -> AccountPlan:
    return AccountPlan("free", "active", None, NOW, add_month(NOW), False, 1, None, None)


def stripe_sub(
    status: str = "active",
    *,
    sub_id: str = "sub_1",
    start: int = START,
    end: int = END,
    cancel: bool = False,
    quantity: int = 1,
) -> StripeSubscription:
    obj: dict[str, Any] = {
        "id": sub_id,
        "customer": "cus_1",
        "status": status,
        "cancel_at_period_end": cancel,
        "metadata": {"tollgate_account_id": "5b8f0f5e-4a0e-4d4b-9e4e-2d1b7a0c9f11"},
        "items": {
            "data": [
                {
                    "id": "si_1",
                    "price": {"id": "price_pro"},
                    "quantity": quantity,
                    "current_period_start": start,
                    "current_period_end": end,
                }
            ]
        },
    }
    return StripeSubscription.parse(obj)


def test_an_active_stripe_subscription_puts_a_free_account_on_its_plan() -> None:
    state = apply_stripe(free(), stripe_sub(), "pro", NOW)
    assert (state.plan, state.status, state.stripe_subscription_id) == ("pro", "active", "sub_1")
    assert state.period_end == datetime.fromtimestamp(END, UTC)


def test_an_incomplete_checkout_changes_nothing() -> None:
    assert apply_stripe(free(), stripe_sub("incomplete"), "pro", NOW) == free()


def test_past_due_keeps_the_paid_plan() -> None:
    paid = apply_stripe(free(), stripe_sub(), "pro", NOW)
    state = apply_stripe(paid, stripe_sub("past_due"), "pro", NOW)
    assert (state.plan, state.status) == ("pro", "past_due")


def test_unpaid_falls_back_to_free_but_remembers_the_subscription() -> None:
    paid = apply_stripe(free(), stripe_sub(), "pro", NOW)
    state = apply_stripe(paid, stripe_sub("unpaid"), "pro", NOW)
    assert (state.plan, state.status, state.stripe_subscription_id) == ("free", "unpaid", "sub_1")
    assert apply_stripe(state, stripe_sub(), "pro", NOW).plan == "pro"


def test_a_canceled_subscription_returns_the_account_to_free() -> None:
    paid = apply_stripe(free(), stripe_sub(), "pro", NOW)
    state = apply_stripe(paid, stripe_sub("canceled"), "pro", NOW)
    assert (state.plan, state.status, state.stripe_subscription_id) == ("free", "active", None)


def test_an_old_subscription_ending_does_not_touch_the_new_one() -> None:
    paid = apply_stripe(free(), stripe_sub(sub_id="sub_new"), "pro", NOW)
    assert apply_stripe(paid, stripe_sub("canceled", sub_id="sub_old"), "pro", NOW) == paid


def test_a_scheduled_downgrade_waits_until_the_next_period() -> None:
    on_enterprise = apply_stripe(free(), stripe_sub(), "enterprise", NOW)
    scheduled = AccountPlan(
        **{
            **on_enterprise.__dict__,
            "scheduled_plan": "pro",
            "scheduled_at": on_enterprise.period_end,
        }
    )
    waiting = apply_stripe(scheduled, stripe_sub(), "pro", NOW)
    assert (waiting.plan, waiting.scheduled_plan) == ("enterprise", "pro")
    renewed = apply_stripe(waiting, stripe_sub(start=END, end=END + 30 * 86400), "pro", NOW)
    assert (renewed.plan, renewed.scheduled_plan) == ("pro", None)


def test_applying_the_same_subscription_in_any_order_or_twice_gives_one_state() -> None:
    final = stripe_sub(cancel=True, quantity=3)
    snapshots = [stripe_sub(), stripe_sub("past_due"), final]
    results = set()
    for order in itertools.permutations(snapshots):
        state = free()
        for snapshot in order:
            state = apply_stripe(state, snapshot, "pro", NOW)
        # Billing always applies Stripe's current object last, whatever came before.
        results.add(apply_stripe(apply_stripe(state, final, "pro", NOW), final, "pro", NOW))
    assert len(results) == 1
    (state,) = results
    assert (state.seats, state.cancel_at_period_end) == (3, True)


def test_periods_may_sit_on_the_subscription_in_older_api_versions() -> None:
    sub = StripeSubscription.parse(
        {
            "id": "sub_1",
            "customer": {"id": "cus_1"},
            "status": "active",
            "current_period_start": START,
            "current_period_end": END,
            "items": {"data": [{"id": "si_1", "price": {"id": "price_pro"}}]},
        }
    )
    assert (sub.customer, sub.period_end) == ("cus_1", datetime.fromtimestamp(END, UTC))


def test_a_month_after_the_31st_is_the_last_day_of_the_next_month() -> None:
    assert add_month(datetime(2027, 1, 31, tzinfo=UTC)) == datetime(2027, 2, 28, tzinfo=UTC)
    assert add_month(datetime(2026, 12, 15, tzinfo=UTC)) == datetime(2027, 1, 15, tzinfo=UTC)
    assert add_month(NOW) - NOW == timedelta(days=30)
