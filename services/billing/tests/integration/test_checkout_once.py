"""One Checkout page per account and plan, and a second paid subscription refunded by itself."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from builders import current
from conftest import Users
from sqlalchemy import select

from tollgate.billing.models import DuplicateSubscription
from tollgate.standins.stripe import StripeStandIn


async def subscribe(
    client: httpx.AsyncClient, users: Users, user_id: uuid.UUID, plan: str, key: str | None = None
) -> dict[str, str]:
    headers = users.auth(user_id)
    if key is not None:
        headers["Idempotency-Key"] = key
    response = await client.post(
        "/api/subscriptions/subscribe", json={"plan": plan}, headers=headers
    )
    assert response.status_code == 200, response.text
    checkout: dict[str, str] = response.json()["checkout"]
    return checkout


def pages_of(stripe: StripeStandIn, user_id: uuid.UUID) -> list[str]:
    return [
        sid
        for sid, s in stripe.sessions.items()
        if s["metadata"].get("tollgate_account_id") == str(user_id)
    ]


async def test_a_second_checkout_request_for_the_same_plan_gets_the_first_page_whatever_its_key(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id = await users.register()

    first = await subscribe(client, users, user_id, "pro", key="tab-one")
    second = await subscribe(client, users, user_id, "pro", key="tab-two")
    third = await subscribe(client, users, user_id, "pro")

    assert first == second == third
    assert pages_of(stripe_standin, user_id) == [first["session_id"]]


async def test_concurrent_checkout_requests_open_one_page(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id = await users.register()

    pages = await asyncio.gather(
        *(subscribe(client, users, user_id, "pro", key=f"k{i}") for i in range(5))
    )

    assert len({p["session_id"] for p in pages}) == 1
    assert len(pages_of(stripe_standin, user_id)) == 1


async def test_an_expired_page_is_replaced_by_a_new_one(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id = await users.register()
    first = await subscribe(client, users, user_id, "pro")
    stripe_standin.expire_checkout(first["session_id"])

    second = await subscribe(client, users, user_id, "pro")

    assert second["session_id"] != first["session_id"]
    again = await subscribe(client, users, user_id, "pro", key="other")
    assert again == second


async def test_a_second_paid_subscription_is_cancelled_and_refunded_and_the_first_stays(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn, app: object
) -> None:
    user_id = await users.register()
    pro = await subscribe(client, users, user_id, "pro")
    enterprise = await subscribe(client, users, user_id, "enterprise")

    kept = stripe_standin.complete_checkout(pro["session_id"])
    assert set(await stripe_standin.deliver_pending()) == {200}
    second = stripe_standin.complete_checkout(enterprise["session_id"])
    assert set(await stripe_standin.deliver_pending()) == {200}

    assert stripe_standin.subscriptions[kept]["status"] == "active"
    assert stripe_standin.subscriptions[second]["status"] == "canceled"
    body = await current(users, client, user_id)
    assert body["plan"] == "pro"
    refunds = [r for r in stripe_standin.refunds.values() if r["reason"] == "duplicate"]
    charges = {stripe_standin.charges[r["charge"]]["invoice"] for r in refunds}
    assert charges == {stripe_standin.subscriptions[second]["latest_invoice"]}
    assert [r["amount"] for r in refunds] == [10_000]
    payments = (await client.get("/api/billing/payments", headers=users.auth(user_id))).json()
    assert sorted((p["amount"], p["amount_refunded"]) for p in payments["items"]) == [
        (2_000, 0),
        (10_000, 10_000),
    ]
    async with app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        recorded = list(
            await session.scalars(
                select(DuplicateSubscription).where(DuplicateSubscription.account_id == user_id)
            )
        )
    assert [
        (d.stripe_subscription_id, d.kept_subscription_id, d.refunded_amount) for d in recorded
    ] == [(second, kept, 10_000)]

    # Stripe delivering the duplicate's events again changes nothing: one refund, no more.
    for event in [e for e in stripe_standin.events if e["data"]["object"].get("id") == second]:
        assert await stripe_standin.send(event) == 200
    assert [r for r in stripe_standin.refunds.values() if r["reason"] == "duplicate"] == refunds
