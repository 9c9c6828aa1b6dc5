"""A validly signed event that is not a well-formed Stripe event is a 400, and nothing is kept."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tollgate.billing.models import StripeEvent
from tollgate.standins.stripe import StripeStandIn, sign

WEBHOOK = "/api/billing/webhooks/stripe"


def event(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": f"evt_shape_{time.monotonic_ns()}",
        "object": "event",
        "type": "customer.subscription.updated",
        "created": int(time.time()),
        "data": {"object": {"id": "sub_nobody", "object": "subscription"}},
    }
    base.update(overrides)
    return base


def with_object(**fields: Any) -> dict[str, Any]:
    return event(data={"object": {"object": "subscription", **fields}})


MALFORMED = {
    "an id of 300 characters": event(id="evt_" + "x" * 296),
    "a type of 150 characters": event(type="customer." + "x" * 141),
    "created 1e20 as a whole number": event(created=10**20),
    "created 1e20 as a float": event(created=1e20),
    "created true": event(created=True),
    "no object id": with_object(),
    "an object id that is a number": with_object(id=42),
    "a NUL in the event id": event(id="evt_\x00nul"),
    "a NUL in the object id": with_object(id="sub_\x00nul"),
    "a NUL in the checkout's subscription": event(
        type="checkout.session.completed",
        data={"object": {"id": "cs_1", "mode": "subscription", "subscription": "sub_\x00"}},
    ),
    "a customer that is a list": with_object(id="sub_x", customer=["cus_1"]),
    "metadata that is a string": with_object(id="sub_x", metadata="tollgate"),
}


async def signed_post(
    client: httpx.AsyncClient, stripe: StripeStandIn, payload: bytes
) -> httpx.Response:
    header = sign(payload, stripe.webhook_secret, int(time.time()))
    return await client.post(
        WEBHOOK,
        content=payload,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


async def recorded(app: Any) -> int:
    async with app.state.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(StripeEvent)) or 0)


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_a_signed_but_malformed_event_is_a_400_stripe_stops_retrying(
    case: str, app: Any, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    before = await recorded(app)
    response = await signed_post(client, stripe_standin, json.dumps(MALFORMED[case]).encode())

    assert response.status_code == 400, response.text
    # A NUL is refused by the guard every service has, before the webhook is read.
    slug = "/unsafe-input" if "NUL" in case else "/invalid-webhook"
    assert response.json()["type"].endswith(slug)
    assert await recorded(app) == before


async def test_json_nested_20000_deep_is_a_400(
    app: Any, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    before = await recorded(app)
    deep = b'{"id": "evt_deep", "data": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"

    response = await signed_post(client, stripe_standin, deep)

    assert response.status_code == 400
    assert await recorded(app) == before
