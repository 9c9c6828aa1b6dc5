"""Trials, yearly plans and Stripe promotion codes, end to end.

Billing starts a trial through Checkout; the Stripe stand-in ends it on request (as a
Stripe test clock would), and what the person may spend and call follows billing's
``subscription.changed`` through usage and auth.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from journeys import Person, balance, eventually, funded, register

from tollgate.usage.ledger.domain import add_month


async def subscribe(gateway: httpx.AsyncClient, person: Person, **body: Any) -> httpx.Response:
    return await gateway.post(
        "/api/subscriptions/subscribe", json={"plan": "pro", **body}, headers=person.headers
    )


async def pay(checkout: httpx.Response, **page: str) -> str:
    """Pay on the stand-in's Checkout page; returns the Stripe subscription it started."""
    assert checkout.status_code == 200, checkout.text
    url = checkout.json()["checkout"]["checkout_url"]
    async with httpx.AsyncClient() as browser:
        paid = await browser.get(url, params=page)
        assert paid.status_code == 302, paid.text
        session = await browser.get(url.replace("/c/pay/", "/v1/checkout/sessions/"))
    return str(session.json()["subscription"])


async def end_trial(outside: Any, subscription_id: str) -> None:
    async with httpx.AsyncClient() as http:
        ended = await http.post(
            f"{outside.stripe.url}/_standin/subscriptions/{subscription_id}/end_trial"
        )
    assert ended.status_code == 200, ended.text


async def current(gateway: httpx.AsyncClient, person: Person) -> dict[str, Any]:
    response = await gateway.get("/api/subscriptions/current", headers=person.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def models(gateway: httpx.AsyncClient, person: Person) -> set[str]:
    """The models the person may call, with a token fresh from auth (which holds the plan)."""
    refreshed = await gateway.post(
        "/api/auth/refresh", json={"refresh_token": person.refresh_token}
    )
    assert refreshed.status_code == 200, refreshed.text
    person.access_token = refreshed.json()["access_token"]
    person.refresh_token = refreshed.json()["refresh_token"]
    listed = await gateway.get("/v1/models", headers=person.headers)
    assert listed.status_code == 200, listed.text
    return {m["id"] for m in listed.json()["data"]}


async def trialing(gateway: httpx.AsyncClient, person: Person, *, card: str) -> str:
    await funded(gateway, person)
    subscription = await pay(await subscribe(gateway, person, trial=True), card=card)
    trial = await eventually(
        lambda: balance(gateway, person),
        lambda b: b.get("plan") == "pro",
        what="pro allocation during the trial",
    )
    assert trial["allocation"] == 5_000_000
    assert (await current(gateway, person))["status"] == "trialing"
    return subscription


async def test_a_trial_with_a_card_ends_on_the_paid_plan(
    gateway: httpx.AsyncClient, outside: Any
) -> None:
    person = await register(gateway, "Tess")
    subscription = await trialing(gateway, person, card="yes")
    assert "gpt-4o" in await models(gateway, person)

    await end_trial(outside, subscription)

    paid = await eventually(
        lambda: current(gateway, person),
        lambda c: c["status"] == "active",
        what="the paid plan after the trial",
    )
    assert (paid["plan"], paid["trial_end"], paid["trial_used"]) == ("pro", None, True)
    after = await balance(gateway, person)
    assert (after["plan"], after["allocation"], after["available"]) == ("pro", 5_000_000, 5_000_000)
    assert "gpt-4o" in await models(gateway, person)
    invoices = (await gateway.get("/api/billing/invoices", headers=person.headers)).json()
    assert sorted(i["amount_paid"] for i in invoices["items"]) == [0, 2000]


async def test_a_trial_without_a_card_ends_back_on_free(
    gateway: httpx.AsyncClient, outside: Any
) -> None:
    person = await register(gateway, "Theo")
    subscription = await trialing(gateway, person, card="no")
    assert "gpt-4o" in await models(gateway, person)

    await end_trial(outside, subscription)

    free = await eventually(
        lambda: balance(gateway, person),
        lambda b: b.get("plan") == "free",
        what="the free plan after the trial",
    )
    # The trial's tokens end with it: only the free allocation is left.
    assert (free["allocation"], free["available"]) == (100_000, 100_000)
    assert "gpt-4o" not in await models(gateway, person)
    refused = await gateway.post(
        "/v1/chat/completions",
        headers=person.headers,
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5},
    )
    assert refused.status_code == 403, refused.text
    invoices = (await gateway.get("/api/billing/invoices", headers=person.headers)).json()
    assert [i["amount_paid"] for i in invoices["items"]] == [0]


async def test_a_trial_of_a_plan_without_one_and_a_second_trial_are_refused(
    gateway: httpx.AsyncClient, outside: Any
) -> None:
    person = await register(gateway, "Tom")
    await funded(gateway, person)

    no_trial = await subscribe(gateway, person, plan="enterprise", trial=True)
    assert no_trial.status_code == 400, no_trial.text
    assert no_trial.json()["type"].endswith("/no-trial")

    subscription = await trialing(gateway, person, card="no")
    await end_trial(outside, subscription)
    await eventually(
        lambda: current(gateway, person), lambda c: c["plan"] == "free", what="back on free"
    )

    second = await subscribe(gateway, person, trial=True)
    assert second.status_code == 409, second.text
    assert second.json()["type"].endswith("/trial-already-used")
    assert (await balance(gateway, person))["allocation"] == 100_000


def month_ending_at(end: datetime) -> datetime:
    """The start of the calendar month (the same day, one month earlier) that ends at ``end``."""
    return next(
        start for days in range(28, 32) if add_month(start := end - timedelta(days=days)) == end
    )


async def test_a_yearly_subscriber_gets_the_allocation_in_each_of_two_months(
    gateway: httpx.AsyncClient, outside: Any
) -> None:
    person = await register(gateway, "Yara")
    await funded(gateway, person)
    # The year began almost a month ago (the stand-in's clock), so its second month
    # starts within seconds: the period dates do the waiting.
    second_month = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=6)
    outside.stripe.clock = int(month_ending_at(second_month).timestamp())
    try:
        await pay(await subscribe(gateway, person, interval="year"))
    finally:
        outside.stripe.clock = None

    first = await eventually(
        lambda: balance(gateway, person),
        lambda b: b.get("plan") == "pro",
        what="the first month's allocation",
    )
    state = await current(gateway, person)
    assert state["billing_interval"] == "year"
    assert (first["allocation"], first["available"]) == (5_000_000, 5_000_000)
    assert datetime.fromisoformat(first["period_end"]) == second_month

    second = await eventually(
        lambda: balance(gateway, person),
        lambda b: b.get("period_start") != first["period_start"],
        timeout=30,
        what="the second month's allocation",
    )
    assert datetime.fromisoformat(second["period_start"]) == second_month
    # A new month's allocation, once: the first month's ended with it.
    assert (second["allocation"], second["available"]) == (5_000_000, 5_000_000)
    plan_grants = [g for g in second["grants"] if g["source"] == "plan"]
    assert len(plan_grants) == 1
    invoices = (await gateway.get("/api/billing/invoices", headers=person.headers)).json()
    assert [i["amount_paid"] for i in invoices["items"]] == [20000]


async def test_a_promotion_code_discount_shows_on_the_invoice(
    gateway: httpx.AsyncClient, outside: Any
) -> None:
    async with httpx.AsyncClient() as http:
        made = await http.post(
            f"{outside.stripe.url}/_standin/promotion_codes",
            json={"code": "SPRING20", "percent_off": 20},
        )
    assert made.status_code == 200, made.text
    person = await register(gateway, "Pia")
    await funded(gateway, person)

    await pay(await subscribe(gateway, person), promotion_code="SPRING20")

    invoices = await eventually(
        lambda: gateway.get("/api/billing/invoices", headers=person.headers),
        lambda r: r.status_code == 200 and r.json()["total"] == 1,
        what="the discounted invoice",
    )
    [invoice] = invoices.json()["items"]
    assert (invoice["subtotal"], invoice["discount"], invoice["amount_paid"]) == (2000, 400, 1600)
    assert invoice["promotion_code"] == "SPRING20"
