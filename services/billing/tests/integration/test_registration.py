"""A new user gets a Stripe customer and the free plan, once, however often auth says so."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from conftest import EventTap, Users
from sqlalchemy import select

from tollgate.billing.customers.consumer import customer_idempotency_key, user_registered
from tollgate.billing.models import Customer
from tollgate.billing.stripe_api import StripeApi
from tollgate.shared.messaging import make_envelope
from tollgate.shared.messaging.events import UserRegistered
from tollgate.shared.testing import free_port
from tollgate.standins.stripe import StripeStandIn


async def test_the_plan_catalog_is_public_and_seeded(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/subscriptions/plans")
    assert response.status_code == 200
    plans = {p["code"]: p for p in response.json()}
    assert list(plans) == ["free", "pro", "enterprise"]
    assert plans["pro"]["monthly_tokens"] == 5_000_000
    assert plans["free"]["limits"]["allowed_models"] == ["gpt-4o-mini", "claude-3-5-haiku"]
    assert "stripe_price_id" not in plans["pro"]


async def test_a_user_registered_twice_gets_one_stripe_customer_and_one_free_plan(
    users: Users, stripe_standin: StripeStandIn, tap: EventTap
) -> None:
    user_id = await users.register(twice=True)
    await asyncio.sleep(0.3)  # let the second delivery arrive too
    customer = await users.customer(user_id)
    assert customer is not None and customer.stripe_customer_id is not None
    theirs = [c for c in stripe_standin.customers.values() if c["email"] == customer.email]
    assert len(theirs) == 1
    changed = await tap.wait_for(user_id, lambda d: d["plan"] == "free")
    assert changed["monthly_tokens"] == 100_000
    assert changed["sequence"] == 1
    assert changed["limits"]["requests_per_minute"] == 60
    assert len(tap.for_account(user_id)) == 1


async def test_a_redelivery_after_a_lost_commit_reuses_the_stripe_customer(
    app, stripe_standin: StripeStandIn
) -> None:
    """Stripe answered, our transaction rolled back: the retry must not make a second customer."""
    billing = app.state.billing
    data = UserRegistered(user_id=uuid.uuid4(), email="lost@example.com", name=None)
    envelope = make_envelope("auth", data.user_id, data)
    async with app.state.sessionmaker() as session:
        await user_registered(billing, session, envelope, data)
        await session.rollback()
    async with app.state.sessionmaker() as session, session.begin():
        await user_registered(billing, session, envelope, data)
    async with app.state.sessionmaker() as session:
        customer = await session.scalar(select(Customer).where(Customer.user_id == data.user_id))
    made = [c for c in stripe_standin.customers.values() if c["email"] == "lost@example.com"]
    assert len(made) == 1
    assert customer is not None and customer.stripe_customer_id == made[0]["id"]
    assert customer_idempotency_key(envelope) in stripe_standin.idempotent


async def test_current_shows_the_free_plan_to_its_user(
    users: Users, client: httpx.AsyncClient
) -> None:
    user_id = await users.register()
    response = await client.get("/api/subscriptions/current", headers=users.auth(user_id))
    assert response.status_code == 200
    body = response.json()
    assert (body["plan"], body["status"], body["billed_by"]) == ("free", "active", "tollgate")


async def test_current_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/subscriptions/current")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_registration_while_stripe_is_down_still_gives_the_free_plan(
    app: Any,
    users: Users,
    client: httpx.AsyncClient,
    stripe_standin: StripeStandIn,
    tap: EventTap,
) -> None:
    real = app.state.billing.stripe
    app.state.billing.stripe = StripeApi(
        "sk_test_standin", api_base=f"http://127.0.0.1:{free_port()}", max_network_retries=0
    )
    try:
        user_id = await users.register()
    finally:
        await app.state.billing.stripe.close()
        app.state.billing.stripe = real
    await tap.wait_for(user_id, lambda d: d["plan"] == "free")
    customer = await users.customer(user_id)
    assert customer is not None and customer.stripe_customer_id is None

    # The customer is made when first needed, with the key registration chose.
    response = await client.post(
        "/api/subscriptions/subscribe", json={"plan": "pro"}, headers=users.auth(user_id)
    )
    assert response.status_code == 200
    customer = await users.customer(user_id)
    assert customer is not None and customer.stripe_customer_id in stripe_standin.customers
    assert customer.stripe_customer_key in stripe_standin.idempotent
