"""Small builders the integration tests share: a user on a paid plan, in a few calls."""

from __future__ import annotations

import uuid

import httpx
from conftest import Users

from tollgate.standins.stripe import StripeStandIn


async def subscribed_user(
    users: Users, client: httpx.AsyncClient, stripe: StripeStandIn, plan: str = "pro"
) -> tuple[uuid.UUID, str]:
    """A registered user who went through Checkout for ``plan``, with every webhook delivered."""
    user_id = await users.register()
    response = await client.post(
        "/api/subscriptions/subscribe", json={"plan": plan}, headers=users.auth(user_id)
    )
    assert response.status_code == 200, response.text
    session_id = response.json()["checkout"]["session_id"]
    sub_id = stripe.complete_checkout(session_id)
    assert set(await stripe.deliver_pending()) == {200}
    return user_id, sub_id


async def current(users: Users, client: httpx.AsyncClient, user_id: uuid.UUID) -> dict[str, object]:
    response = await client.get("/api/subscriptions/current", headers=users.auth(user_id))
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body
