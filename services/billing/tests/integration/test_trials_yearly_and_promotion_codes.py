"""Trials, yearly prices and Stripe promotion codes, through Checkout and Stripe's webhooks."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from builders import current
from conftest import EventTap, Users

from tollgate.standins.stripe import StripeStandIn


async def checkout(
    users: Users, client: httpx.AsyncClient, user_id: uuid.UUID, **body: Any
) -> httpx.Response:
    return await client.post(
        "/api/subscriptions/subscribe", json={"plan": "pro", **body}, headers=users.auth(user_id)
    )


async def trialing_user(
    users: Users, client: httpx.AsyncClient, stripe: StripeStandIn, *, card: bool
) -> tuple[uuid.UUID, str]:
    user_id = await users.register()
    response = await checkout(users, client, user_id, trial=True)
    assert response.status_code == 200, response.text
    sub_id = stripe.complete_checkout(response.json()["checkout"]["session_id"], card=card)
    assert set(await stripe.deliver_pending()) == {200}
    return user_id, sub_id


def last_checkout_params(stripe: StripeStandIn) -> dict[str, Any]:
    return next(
        p
        for method, path, p in reversed(stripe.requests)
        if (method, path) == ("POST", "checkout/sessions")
    )


def days_between(start: object, end: object) -> float:
    return (datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))) / timedelta(
        days=1
    )


async def test_a_trial_starts_without_a_card_and_the_account_has_the_plan_while_trialing(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn, tap: EventTap
) -> None:
    user_id, _ = await trialing_user(users, client, stripe_standin, card=False)

    params = last_checkout_params(stripe_standin)
    assert params["subscription_data"]["trial_period_days"] == "14"
    assert params["payment_method_collection"] == "if_required"
    assert (
        params["subscription_data"]["trial_settings"]["end_behavior"]["missing_payment_method"]
        == "cancel"
    )
    state = await current(users, client, user_id)
    assert (state["plan"], state["status"], state["trial_used"]) == ("pro", "trialing", True)
    assert round(days_between(state["current_period_start"], state["trial_end"])) == 14
    announced = await tap.wait_for(user_id, lambda e: e["status"] == "trialing")
    assert (announced["plan"], announced["monthly_tokens"]) == ("pro", 5_000_000)


async def test_a_trial_with_a_card_ends_on_the_paid_plan_and_its_first_invoice_is_paid(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn, tap: EventTap
) -> None:
    user_id, sub_id = await trialing_user(users, client, stripe_standin, card=True)

    stripe_standin.end_trial(sub_id)
    assert set(await stripe_standin.deliver_pending()) == {200}

    state = await current(users, client, user_id)
    assert (state["plan"], state["status"], state["trial_end"]) == ("pro", "active", None)
    await tap.wait_for(user_id, lambda e: e["plan"] == "pro" and e["status"] == "active")
    invoices = (await client.get("/api/billing/invoices", headers=users.auth(user_id))).json()
    assert sorted((i["amount_paid"], i["status"]) for i in invoices["items"]) == [
        (0, "paid"),  # the trial's
        (2000, "paid"),  # the first paid month
    ]


async def test_a_trial_without_a_card_ends_back_on_free(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn, tap: EventTap
) -> None:
    user_id, sub_id = await trialing_user(users, client, stripe_standin, card=False)

    stripe_standin.end_trial(sub_id)
    assert set(await stripe_standin.deliver_pending()) == {200}

    state = await current(users, client, user_id)
    assert (state["plan"], state["status"], state["billed_by"]) == ("free", "active", "tollgate")
    free = await tap.wait_for(user_id, lambda e: e["plan"] == "free" and e["sequence"] > 1)
    assert free["monthly_tokens"] == 100_000
    assert stripe_standin.subscriptions[sub_id]["status"] == "canceled"
    assert not [
        c
        for c in stripe_standin.charges.values()
        if c["customer"] == stripe_standin.subscriptions[sub_id]["customer"]
    ]


async def test_an_account_gets_one_trial_ever(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id, sub_id = await trialing_user(users, client, stripe_standin, card=False)
    stripe_standin.end_trial(sub_id)
    assert set(await stripe_standin.deliver_pending()) == {200}
    pages_before = len(stripe_standin.sessions)

    again = await checkout(users, client, user_id, trial=True)

    assert again.status_code == 409, again.text
    assert again.json()["type"].endswith("/trial-already-used")
    assert len(stripe_standin.sessions) == pages_before
    paying = await checkout(users, client, user_id)  # without a trial it may still buy
    assert paying.status_code == 200, paying.text


async def test_a_trial_of_a_plan_that_offers_none_is_refused_and_opens_no_page(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id = await users.register()
    pages_before = len(stripe_standin.sessions)

    refused = await checkout(users, client, user_id, plan="enterprise", trial=True)
    not_a_boolean = await checkout(users, client, user_id, trial="yes")

    assert refused.status_code == 400, refused.text
    assert refused.json()["type"].endswith("/no-trial")
    assert "no free trial" in refused.json()["detail"]
    assert not_a_boolean.status_code == 422
    assert len(stripe_standin.sessions) == pages_before
    assert (await current(users, client, user_id))["trial_used"] is False


async def test_a_yearly_subscription_bills_a_year_and_announces_a_year_long_term(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn, tap: EventTap
) -> None:
    user_id = await users.register()
    response = await checkout(users, client, user_id, interval="year")
    assert response.status_code == 200, response.text
    assert last_checkout_params(stripe_standin)["line_items"] == [
        {"price": "price_pro_yearly_test", "quantity": "1"}
    ]

    stripe_standin.complete_checkout(response.json()["checkout"]["session_id"])
    assert set(await stripe_standin.deliver_pending()) == {200}

    state = await current(users, client, user_id)
    assert (state["plan"], state["billing_interval"]) == ("pro", "year")
    assert 365 <= days_between(state["current_period_start"], state["current_period_end"]) <= 366
    announced = await tap.wait_for(user_id, lambda e: e["plan"] == "pro")
    # The term is a year; usage grants the monthly allocation in each of its months.
    assert announced["monthly_tokens"] == 5_000_000
    invoices = (await client.get("/api/billing/invoices", headers=users.auth(user_id))).json()
    assert [i["amount_paid"] for i in invoices["items"]] == [20000]


async def test_a_plan_without_a_yearly_price_is_not_sold_yearly(
    users: Users, client: httpx.AsyncClient
) -> None:
    user_id = await users.register()

    refused = await checkout(users, client, user_id, plan="enterprise", interval="year")
    unknown = await checkout(users, client, user_id, interval="week")

    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/plan-not-for-sale")
    assert unknown.status_code == 422
    plans = (await client.get("/api/subscriptions/plans")).json()
    offers = {p["code"]: (p["yearly_price"], p["trial_days"]) for p in plans}
    assert offers["pro"] == ("200.00", 14)
    assert offers["enterprise"] == (None, 0)  # a yearly price without a Stripe price is not shown


async def test_a_promotion_code_entered_in_checkout_discounts_the_invoice_shown(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    stripe_standin.add_promotion_code("LAUNCH25", percent_off=25)
    user_id = await users.register()
    response = await checkout(users, client, user_id)
    assert last_checkout_params(stripe_standin)["allow_promotion_codes"] == "true"

    stripe_standin.complete_checkout(
        response.json()["checkout"]["session_id"], promotion_code="launch25"
    )
    assert set(await stripe_standin.deliver_pending()) == {200}

    invoices = (await client.get("/api/billing/invoices", headers=users.auth(user_id))).json()
    [invoice] = invoices["items"]
    assert (invoice["subtotal"], invoice["discount"], invoice["amount_paid"]) == (2000, 500, 1500)
    assert invoice["promotion_code"] == "LAUNCH25"
    payments = (await client.get("/api/billing/payments", headers=users.auth(user_id))).json()
    assert [p["amount"] for p in payments["items"]] == [1500]


async def test_an_admin_offers_a_trial_and_nonsense_trial_lengths_are_refused(
    users: Users, client: httpx.AsyncClient
) -> None:
    url = "/api/admin/plans/enterprise"
    refusals = [
        await client.put(url, json={"trial_days": days}, headers=users.admin())
        for days in (-1, 1.5, "7", True, 366)
    ]
    free_trial = await client.put(
        "/api/admin/plans/free", json={"trial_days": 7}, headers=users.admin()
    )
    try:
        offered = await client.put(url, json={"trial_days": 7}, headers=users.admin())
        plans = (await client.get("/api/subscriptions/plans")).json()
    finally:
        await client.put(url, json={"trial_days": 0}, headers=users.admin())

    assert [r.status_code for r in refusals] == [422] * 5
    assert free_trial.status_code == 400
    assert offered.status_code == 200, offered.text
    assert {p["code"]: p["trial_days"] for p in plans}["enterprise"] == 7


async def test_a_yearly_subscriber_counts_a_twelfth_of_the_yearly_price_in_mrr(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    plans = (await client.get("/api/subscriptions/plans")).json()
    yearly = Decimal(str(next(p["yearly_price"] for p in plans if p["code"] == "pro")))
    before = (await client.get("/api/admin/revenue", headers=users.admin())).json()
    user_id = await users.register()
    response = await checkout(users, client, user_id, interval="year")
    stripe_standin.complete_checkout(response.json()["checkout"]["session_id"])
    assert set(await stripe_standin.deliver_pending()) == {200}

    after = (await client.get("/api/admin/revenue", headers=users.admin())).json()

    # Not the monthly price: the yearly price (less than twelve months of it) over twelve.
    added = Decimal(after["mrr"]) - Decimal(before["mrr"])
    assert abs(added - yearly / 12) <= Decimal("0.01")
    assert after["paying_subscriptions"] == before["paying_subscriptions"] + 1
