"""Mistakes get a clear 4xx problem, and leave nothing behind."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from builders import current, subscribed_user
from conftest import Users

from tollgate.billing.stripe_api import StripeApi
from tollgate.shared.testing import free_port
from tollgate.standins.stripe import StripeStandIn


async def test_subscribing_to_an_unknown_plan_is_a_400(
    users: Users, client: httpx.AsyncClient
) -> None:
    user_id = await users.register()
    response = await client.post(
        "/api/subscriptions/subscribe", json={"plan": "platinum"}, headers=users.auth(user_id)
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("unknown-plan")


async def test_subscribing_to_free_is_a_400(users: Users, client: httpx.AsyncClient) -> None:
    user_id = await users.register()
    response = await client.post(
        "/api/subscriptions/subscribe", json={"plan": "free"}, headers=users.auth(user_id)
    )
    assert response.status_code == 400


async def test_subscribing_twice_is_a_409(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id, _ = await subscribed_user(users, client, stripe_standin)
    response = await client.post(
        "/api/subscriptions/subscribe", json={"plan": "enterprise"}, headers=users.auth(user_id)
    )
    assert response.status_code == 409
    assert response.json()["type"].endswith("already-subscribed")


async def test_upgrading_to_the_current_plan_is_a_409_and_changes_nothing(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id, _ = await subscribed_user(users, client, stripe_standin)
    calls = len(stripe_standin.requests)
    response = await client.put(
        "/api/subscriptions/upgrade", json={"plan": "pro"}, headers=users.auth(user_id)
    )
    assert response.status_code == 409
    assert response.json()["type"].endswith("already-on-plan")
    assert len(stripe_standin.requests) == calls


async def test_changing_plan_cancelling_or_resuming_without_a_paid_plan_is_a_409(
    users: Users, client: httpx.AsyncClient
) -> None:
    user_id = await users.register()
    auth = users.auth(user_id)
    for response in (
        await client.post("/api/subscriptions/cancel", headers=auth),
        await client.post("/api/subscriptions/resume", headers=auth),
        await client.put("/api/subscriptions/upgrade", json={"plan": "pro"}, headers=auth),
    ):
        assert response.status_code == 409
        assert response.json()["type"].endswith("no-paid-subscription")
    assert (await current(users, client, user_id))["plan"] == "free"


async def test_resuming_a_subscription_that_is_not_ending_is_a_409(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id, _ = await subscribed_user(users, client, stripe_standin)
    response = await client.post("/api/subscriptions/resume", headers=users.auth(user_id))
    assert response.status_code == 409


async def test_acting_on_another_organization_finds_nothing(
    users: Users, client: httpx.AsyncClient
) -> None:
    user_id = await users.register()
    org_id = uuid.uuid4()
    response = await client.post(
        "/api/subscriptions/subscribe",
        json={"plan": "enterprise", "org_id": str(org_id)},
        # Even a token naming the organization does not make its bearer a member.
        headers=users.auth(user_id, org=org_id),
    )
    assert response.status_code == 404


async def test_malformed_bodies_are_422_problems(users: Users, client: httpx.AsyncClient) -> None:
    user_id = await users.register()
    auth = users.auth(user_id)
    for body in ({}, {"plan": ""}, {"plan": "pro", "seats": 0}, {"plan": "pro", "extra": 1}):
        response = await client.post("/api/subscriptions/subscribe", json=body, headers=auth)
        assert response.status_code == 422, body
    response = await client.post(
        "/api/subscriptions/subscribe",
        content=b"{not json",
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 422


async def test_an_organization_subscribes_to_enterprise_with_seats(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    org_id = uuid.uuid4()
    user_id = await users.register(org_id=org_id)
    await users.join(org_id, user_id, "owner")
    auth = users.auth(user_id, org=org_id)
    response = await client.post(
        "/api/subscriptions/subscribe",
        json={"plan": "enterprise", "org_id": str(org_id), "seats": 5},
        headers=auth,
    )
    assert response.status_code == 200, response.text
    stripe_standin.complete_checkout(response.json()["checkout"]["session_id"])
    await stripe_standin.deliver_pending()
    org = await client.get(f"/api/subscriptions/current?org_id={org_id}", headers=auth)
    assert org.status_code == 200
    assert (org.json()["plan"], org.json()["seats"], org.json()["monthly_tokens"]) == (
        "enterprise",
        5,
        250_000_000,
    )
    assert (await current(users, client, user_id))["plan"] == "free"


async def test_a_sub_user_cannot_manage_billing(users: Users, client: httpx.AsyncClient) -> None:
    parent = await users.register()
    auth = users.auth(uuid.uuid4(), parent=parent)
    for response in (
        await client.post("/api/subscriptions/subscribe", json={"plan": "pro"}, headers=auth),
        await client.post("/api/billing/portal", headers=auth),
        await client.get("/api/subscriptions/current", headers=auth),
    ):
        assert response.status_code == 403


async def test_stripe_being_down_is_a_503_and_changes_nothing(
    app: Any, users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id = await users.register()
    real = app.state.billing.stripe
    app.state.billing.stripe = StripeApi(
        "sk_test_standin", api_base=f"http://127.0.0.1:{free_port()}", max_network_retries=0
    )
    try:
        response = await client.post(
            "/api/subscriptions/subscribe",
            json={"plan": "pro", "payment_method_id": "pm_card_visa"},
            headers=users.auth(user_id),
        )
        assert response.status_code == 503
        assert response.json()["type"].endswith("payment-provider-unavailable")
    finally:
        await app.state.billing.stripe.close()
        app.state.billing.stripe = real
    assert (await current(users, client, user_id))["plan"] == "free"


async def test_a_webhook_that_cannot_reach_stripe_is_retried_later_with_full_effect(
    app: Any, users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id = await users.register()
    response = await client.post(
        "/api/subscriptions/subscribe", json={"plan": "pro"}, headers=users.auth(user_id)
    )
    stripe_standin.complete_checkout(response.json()["checkout"]["session_id"])
    [completed] = stripe_standin.take_pending("checkout.session.completed")
    stripe_standin.take_pending()
    real = app.state.billing.stripe
    app.state.billing.stripe = StripeApi(
        "sk_test_standin", api_base=f"http://127.0.0.1:{free_port()}", max_network_retries=0
    )
    try:
        assert await stripe_standin.send(completed) == 503
    finally:
        await app.state.billing.stripe.close()
        app.state.billing.stripe = real
    assert (await current(users, client, user_id))["plan"] == "free"
    assert await stripe_standin.send(completed) == 200
    assert (await current(users, client, user_id))["plan"] == "pro"
