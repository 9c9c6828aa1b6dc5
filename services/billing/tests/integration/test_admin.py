"""What admins do with money and plans: refunds, revenue, putting a user on a plan."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
from builders import subscribed_user
from conftest import EventTap, Users

from tollgate.standins.stripe import StripeStandIn


async def paid_charge(users: Users, client: httpx.AsyncClient, user_id: uuid.UUID) -> str:
    payments = (await client.get("/api/billing/payments", headers=users.auth(user_id))).json()
    return str(payments["items"][0]["id"])


async def test_a_partial_refund_with_an_idempotency_key_refunds_once(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id, _ = await subscribed_user(users, client, stripe_standin)
    charge = await paid_charge(users, client, user_id)
    admin = {**users.admin(), "Idempotency-Key": f"refund-{uuid.uuid4()}"}
    url = f"/api/admin/payments/{charge}/refund"

    first = await client.post(
        url, json={"amount": 500, "reason": "requested_by_customer"}, headers=admin
    )
    again = await client.post(
        url, json={"amount": 500, "reason": "requested_by_customer"}, headers=admin
    )

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert [r["amount"] for r in stripe_standin.refunds.values() if r["charge"] == charge] == [500]
    payments = (await client.get("/api/billing/payments", headers=users.auth(user_id))).json()
    assert (payments["items"][0]["amount_refunded"], payments["items"][0]["status"]) == (
        500,
        "partially_refunded",
    )
    await stripe_standin.deliver_pending()  # charge.refunded says the same; nothing doubles
    payments = (await client.get("/api/billing/payments", headers=users.auth(user_id))).json()
    assert payments["items"][0]["amount_refunded"] == 500


async def test_a_full_refund_refunds_what_is_left_once_and_no_more(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id, _ = await subscribed_user(users, client, stripe_standin)
    charge = await paid_charge(users, client, user_id)
    url = f"/api/admin/payments/{charge}/refund"
    keyless = await client.post(url, json={"amount": 700}, headers=users.admin())
    assert keyless.status_code == 400
    assert keyless.json()["type"].endswith("idempotency-key-required")
    partial = await client.post(
        url, json={"amount": 700}, headers={**users.admin(), "Idempotency-Key": "k-700"}
    )
    assert partial.status_code == 201

    rest = await client.post(url, headers=users.admin())
    retried = await client.post(url, headers=users.admin())

    assert (rest.status_code, rest.json()["amount"]) == (201, 1300)
    assert (retried.status_code, retried.json()["id"]) == (200, rest.json()["id"])
    assert (
        sum(r["amount"] for r in stripe_standin.refunds.values() if r["charge"] == charge) == 2000
    )
    too_much = await client.post(
        url, json={"amount": 1}, headers={**users.admin(), "Idempotency-Key": "k-1"}
    )
    assert too_much.status_code == 409
    payments = (await client.get("/api/billing/payments", headers=users.auth(user_id))).json()
    assert payments["items"][0]["status"] == "refunded"


async def test_refunds_are_for_admins_and_for_payments_that_exist(
    users: Users, client: httpx.AsyncClient
) -> None:
    user_id = uuid.uuid4()
    forbidden = await client.post("/api/admin/payments/ch_x/refund", headers=users.auth(user_id))
    assert forbidden.status_code == 403
    missing = await client.post("/api/admin/payments/ch_missing/refund", headers=users.admin())
    assert missing.status_code == 404
    negative = await client.post(
        "/api/admin/payments/ch_missing/refund", json={"amount": -5}, headers=users.admin()
    )
    assert negative.status_code == 422


async def test_revenue_counts_a_new_pro_subscription_in_mrr(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    before = (await client.get("/api/admin/revenue", headers=users.admin())).json()
    await subscribed_user(users, client, stripe_standin)
    after = (await client.get("/api/admin/revenue", headers=users.admin())).json()
    assert Decimal(after["mrr"]) - Decimal(before["mrr"]) == Decimal("20.00")
    assert Decimal(after["arr"]) == Decimal(after["mrr"]) * 12
    assert after["paying_subscriptions"] == before["paying_subscriptions"] + 1
    pro = next(
        c for c in after["active_subscriptions"] if (c["plan"], c["billed_by"]) == ("pro", "stripe")
    )
    assert pro["subscriptions"] >= 1
    this_month = after["revenue_by_month"][-1]
    assert (
        this_month["gross"] >= 2000
        and this_month["net"] == this_month["gross"] - this_month["refunded"]
    )


async def test_revenue_is_for_admins(users: Users, client: httpx.AsyncClient) -> None:
    response = await client.get("/api/admin/revenue", headers=users.auth(uuid.uuid4()))
    assert response.status_code == 403


async def test_an_admin_gives_a_free_user_a_complimentary_pro_plan(
    users: Users, client: httpx.AsyncClient, tap: EventTap
) -> None:
    user_id = await users.register()
    response = await client.put(
        f"/api/admin/users/{user_id}/plan", json={"plan": "pro"}, headers=users.admin()
    )
    assert response.status_code == 200, response.text
    assert (response.json()["plan"], response.json()["billed_by"]) == ("pro", "tollgate")
    await tap.wait_for(user_id, lambda d: d["plan"] == "pro" and d["monthly_tokens"] == 5_000_000)
    again = await client.put(
        f"/api/admin/users/{user_id}/plan", json={"plan": "pro"}, headers=users.admin()
    )
    assert again.status_code == 409


async def test_an_admin_moving_a_paying_user_to_free_cancels_their_stripe_subscription(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id, sub_id = await subscribed_user(users, client, stripe_standin)
    response = await client.put(
        f"/api/admin/users/{user_id}/plan", json={"plan": "free"}, headers=users.admin()
    )
    assert response.status_code == 200
    assert response.json()["plan"] == "free"
    assert stripe_standin.subscriptions[sub_id]["status"] == "canceled"


async def test_an_admin_changes_the_catalog(users: Users, client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/api/admin/plans/pro",
        json={"features": ["Every model", "Faster queue"]},
        headers=users.admin(),
    )
    assert response.status_code == 200
    plans = {p["code"]: p for p in (await client.get("/api/subscriptions/plans")).json()}
    assert plans["pro"]["features"] == ["Every model", "Faster queue"]
    bad = await client.put(
        "/api/admin/plans/pro", json={"limits": {"requests_per_minute": 5}}, headers=users.admin()
    )
    assert bad.status_code == 400
    assert (
        await client.put("/api/admin/plans/gold", json={}, headers=users.admin())
    ).status_code == 404


async def test_an_admin_lists_an_accounts_payments_and_nobody_else_can(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id, _ = await subscribed_user(users, client, stripe_standin)
    own = (await client.get("/api/billing/payments", headers=users.auth(user_id))).json()

    listed = await client.get(
        "/api/admin/payments", params={"account_id": str(user_id)}, headers=users.admin()
    )
    refused = await client.get(
        "/api/admin/payments", params={"account_id": str(user_id)}, headers=users.auth(user_id)
    )

    assert listed.status_code == 200
    assert listed.json() == own
    assert refused.status_code == 403


async def test_money_amounts_are_whole_numbers_never_strings(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id, _ = await subscribed_user(users, client, stripe_standin)
    charge = await paid_charge(users, client, user_id)
    url = f"/api/admin/payments/{charge}/refund"
    plans_before = (await client.get("/api/subscriptions/plans")).json()

    refunds = [
        await client.post(
            url, json={"amount": amount}, headers={**users.admin(), "Idempotency-Key": str(amount)}
        )
        for amount in ("100", 100.0, True)
    ]
    prices = [
        await client.put("/api/admin/plans/pro", json={"price": price}, headers=users.admin())
        for price in ("19.00", True)
    ]
    seats = await client.post(
        "/api/subscriptions/subscribe",
        json={"plan": "enterprise", "seats": "5"},
        headers=users.auth(await users.register()),
    )

    assert [r.status_code for r in refunds] == [422, 422, 422]
    assert [p.status_code for p in prices] == [422, 422]
    assert seats.status_code == 422
    assert not [r for r in stripe_standin.refunds.values() if r["charge"] == charge]
    assert (await client.get("/api/subscriptions/plans")).json() == plans_before
