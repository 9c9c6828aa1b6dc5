"""Subscribing through Checkout, changing plan, cancelling and resuming, as a customer sees it."""

from __future__ import annotations

import httpx
from builders import current, subscribed_user
from conftest import EventTap, Users

from tollgate.standins.stripe import StripeStandIn


async def test_subscribe_then_checkout_completed_announces_the_pro_allocation(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn, tap: EventTap
) -> None:
    user_id = await users.register()
    response = await client.post(
        "/api/subscriptions/subscribe", json={"plan": "pro"}, headers=users.auth(user_id)
    )
    assert response.status_code == 200
    checkout = response.json()["checkout"]
    assert checkout["checkout_url"].startswith(stripe_standin.url)
    # Nothing changes until the customer has paid.
    assert (await current(users, client, user_id))["plan"] == "free"

    stripe_standin.complete_checkout(checkout["session_id"])
    assert set(await stripe_standin.deliver_pending()) == {200}

    changed = await tap.wait_for(user_id, lambda d: d["plan"] == "pro")
    assert changed["monthly_tokens"] == 5_000_000
    assert changed["status"] == "active"
    assert changed["limits"]["allowed_models"] == ["*"]
    assert changed["sequence"] == 2
    body = await current(users, client, user_id)
    assert (body["plan"], body["billed_by"]) == ("pro", "stripe")
    invoices = (await client.get("/api/billing/invoices", headers=users.auth(user_id))).json()
    assert [(i["status"], i["amount_paid"]) for i in invoices["items"]] == [("paid", 2000)]
    payments = (await client.get("/api/billing/payments", headers=users.auth(user_id))).json()
    assert [(p["status"], p["amount"]) for p in payments["items"]] == [("succeeded", 2000)]


async def test_a_double_click_on_subscribe_gets_one_checkout_page(
    users: Users, client: httpx.AsyncClient
) -> None:
    user_id = await users.register()
    pages = [
        (
            await client.post(
                "/api/subscriptions/subscribe", json={"plan": "pro"}, headers=users.auth(user_id)
            )
        ).json()["checkout"]["session_id"]
        for _ in range(2)
    ]
    assert pages[0] == pages[1]


async def test_a_saved_card_subscribes_without_checkout(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id = await users.register()
    response = await client.post(
        "/api/subscriptions/subscribe",
        json={"plan": "pro", "payment_method_id": "pm_card_visa"},
        headers=users.auth(user_id),
    )
    assert response.status_code == 200, response.text
    assert response.json()["subscription"]["plan"] == "pro"


async def test_a_declined_saved_card_is_a_clear_400_and_changes_nothing(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id = await users.register()
    customer = await users.customer(user_id)
    assert customer is not None
    stripe_standin.declining.add(str(customer.stripe_customer_id))
    response = await client.post(
        "/api/subscriptions/subscribe",
        json={"plan": "pro", "payment_method_id": "pm_card_chargeDeclined"},
        headers=users.auth(user_id),
    )
    assert response.status_code == 400
    assert response.json()["type"].endswith("card-declined")
    assert (await current(users, client, user_id))["plan"] == "free"


async def test_an_upgrade_takes_effect_at_once_and_charges_the_prorated_difference(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn, tap: EventTap
) -> None:
    user_id, sub_id = await subscribed_user(users, client, stripe_standin)
    response = await client.put(
        "/api/subscriptions/upgrade", json={"plan": "enterprise"}, headers=users.auth(user_id)
    )
    assert response.status_code == 200, response.text
    assert response.json()["plan"] == "enterprise"
    await tap.wait_for(user_id, lambda d: d["plan"] == "enterprise")
    proration = [
        i
        for i in stripe_standin.invoices.values()
        if i["subscription"] == sub_id and i["billing_reason"] == "subscription_update"
    ]
    assert len(proration) == 1
    assert 0 < proration[0]["amount_due"] <= 8000
    await stripe_standin.deliver_pending()
    invoices = (await client.get("/api/billing/invoices", headers=users.auth(user_id))).json()
    assert invoices["total"] == 2


async def test_a_downgrade_waits_for_the_end_of_the_paid_period(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn, tap: EventTap
) -> None:
    user_id, sub_id = await subscribed_user(users, client, stripe_standin, plan="enterprise")
    response = await client.put(
        "/api/subscriptions/upgrade", json={"plan": "pro"}, headers=users.auth(user_id)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["plan"], body["scheduled_plan"]) == ("enterprise", "pro")
    assert body["scheduled_at"] == body["current_period_end"]
    await stripe_standin.deliver_pending()
    assert (await current(users, client, user_id))["plan"] == "enterprise"

    stripe_standin.renew(sub_id)
    await stripe_standin.deliver_pending()
    body = await current(users, client, user_id)
    assert (body["plan"], body["scheduled_plan"]) == ("pro", None)
    await tap.wait_for(user_id, lambda d: d["plan"] == "pro" and d["monthly_tokens"] == 5_000_000)


async def test_cancel_at_period_end_then_resume_then_cancel_immediately(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn, tap: EventTap
) -> None:
    user_id, _ = await subscribed_user(users, client, stripe_standin)
    auth = users.auth(user_id)

    cancelled = await client.post("/api/subscriptions/cancel", headers=auth)
    assert cancelled.status_code == 200
    assert (cancelled.json()["plan"], cancelled.json()["cancel_at_period_end"]) == ("pro", True)
    await tap.wait_for(user_id, lambda d: d["cancel_at_period_end"] is True)

    resumed = await client.post("/api/subscriptions/resume", headers=auth)
    assert resumed.status_code == 200
    assert resumed.json()["cancel_at_period_end"] is False

    ended = await client.post("/api/subscriptions/cancel", json={"immediately": True}, headers=auth)
    assert ended.status_code == 200
    assert (ended.json()["plan"], ended.json()["billed_by"]) == ("free", "tollgate")
    await tap.wait_for(user_id, lambda d: d["plan"] == "free" and d["sequence"] > 2)
    await stripe_standin.deliver_pending()
    assert (await current(users, client, user_id))["plan"] == "free"


async def test_a_subscription_cancelled_at_period_end_returns_to_free_when_the_period_ends(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id, sub_id = await subscribed_user(users, client, stripe_standin)
    await client.post("/api/subscriptions/cancel", headers=users.auth(user_id))
    stripe_standin.renew(sub_id)
    stripe_standin.clock = None
    await stripe_standin.deliver_pending()
    assert (await current(users, client, user_id))["plan"] == "free"


async def test_a_failed_renewal_keeps_the_plan_past_due_until_the_retry_succeeds(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn, tap: EventTap
) -> None:
    user_id, sub_id = await subscribed_user(users, client, stripe_standin)
    customer_id = stripe_standin.subscriptions[sub_id]["customer"]
    stripe_standin.declining.add(customer_id)
    stripe_standin.renew(sub_id)
    await stripe_standin.deliver_pending()
    body = await current(users, client, user_id)
    assert (body["plan"], body["status"]) == ("pro", "past_due")
    await tap.wait_for(user_id, lambda d: d["status"] == "past_due")

    stripe_standin.declining.discard(customer_id)
    stripe_standin.retry_payment(stripe_standin.subscriptions[sub_id]["latest_invoice"])
    await stripe_standin.deliver_pending()
    body = await current(users, client, user_id)
    assert (body["plan"], body["status"]) == ("pro", "active")
    await tap.wait_for(user_id, lambda d: d["status"] == "active" and d["sequence"] > 3)
    payments = (await client.get("/api/billing/payments", headers=users.auth(user_id))).json()
    assert sorted(p["status"] for p in payments["items"]) == ["succeeded", "succeeded"]


async def test_the_portal_link_comes_from_stripe(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id = await users.register()
    response = await client.post("/api/billing/portal", headers=users.auth(user_id))
    assert response.status_code == 200
    assert response.json()["url"].startswith(stripe_standin.url + "/p/bps_")
