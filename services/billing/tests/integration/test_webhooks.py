"""Stripe webhooks: only signed ones count, each counts once, and order does not matter."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import httpx
from builders import current, subscribed_user
from conftest import OLD_WEBHOOK_SECRET, WEBHOOK_SECRET, Users
from sqlalchemy import func, select

from tollgate.billing.models import Invoice, Payment, StripeEvent
from tollgate.standins.stripe import StripeStandIn, sign

WEBHOOK = "/api/billing/webhooks/stripe"


def an_event(type_: str = "customer.subscription.updated") -> dict[str, Any]:
    return {
        "id": f"evt_unit_{time.monotonic_ns()}",
        "object": "event",
        "type": type_,
        "created": int(time.time()),
        "data": {"object": {"id": "sub_nobody", "object": "subscription"}},
    }


async def post(client: httpx.AsyncClient, payload: bytes, header: str) -> httpx.Response:
    return await client.post(
        WEBHOOK,
        content=payload,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


async def events_recorded(app: Any, event_id: str) -> int:
    async with app.state.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(StripeEvent).where(StripeEvent.id == event_id)
        )
        return int(count or 0)


async def test_a_tampered_body_is_refused_and_not_recorded(
    app: Any, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    event = an_event("test.helper")
    payload, headers = stripe_standin.signed(event)
    tampered = payload.replace(b"test.helper", b"test.helpes")
    response = await post(client, tampered, headers["Stripe-Signature"])
    assert response.status_code == 400
    assert response.json()["type"].endswith("invalid-signature")
    assert await events_recorded(app, event["id"]) == 0


async def test_a_body_signed_with_an_unknown_secret_is_refused(client: httpx.AsyncClient) -> None:
    payload = json.dumps(an_event()).encode()
    response = await post(client, payload, sign(payload, "whsec_attacker", int(time.time())))
    assert response.status_code == 400


async def test_timestamps_too_old_or_too_far_ahead_are_refused(client: httpx.AsyncClient) -> None:
    payload = json.dumps(an_event()).encode()
    for skew in (-301, +301, -3600, +86400):
        response = await post(
            client, payload, sign(payload, WEBHOOK_SECRET, int(time.time()) + skew)
        )
        assert response.status_code == 400, skew
        assert response.json()["type"].endswith("stale-signature")


async def test_missing_or_garbled_signature_headers_are_refused(client: httpx.AsyncClient) -> None:
    payload = json.dumps(an_event()).encode()
    assert (await client.post(WEBHOOK, content=payload)).status_code == 400
    for header in ("", "t=abc,v1=00", "v1=deadbeef", "t=1", "garbage"):
        assert (await post(client, payload, header)).status_code == 400, header


async def test_the_previous_secret_still_verifies_during_a_rotation(
    app: Any, client: httpx.AsyncClient
) -> None:
    event = an_event("customer.created")
    payload = json.dumps(event).encode()
    response = await post(client, payload, sign(payload, OLD_WEBHOOK_SECRET, int(time.time())))
    assert response.status_code == 200
    assert await events_recorded(app, event["id"]) == 1


async def test_a_signed_body_that_is_not_json_or_not_an_event_is_a_400(
    client: httpx.AsyncClient,
) -> None:
    for payload in (b"not json", b"[1, 2]", b'{"id": "evt_1", "type": "x"}'):
        response = await post(client, payload, sign(payload, WEBHOOK_SECRET, int(time.time())))
        assert response.status_code == 400, payload
        assert response.json()["type"].endswith("invalid-webhook")


async def test_unknown_event_types_are_acknowledged_and_ignored(
    client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    payload, headers = stripe_standin.signed(an_event("radar.early_fraud_warning.created"))
    response = await post(client, payload, headers["Stripe-Signature"])
    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored"


async def test_the_same_webhook_ten_times_at_once_has_one_effect(
    app: Any, users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id = await users.register()
    response = await client.post(
        "/api/subscriptions/subscribe", json={"plan": "pro"}, headers=users.auth(user_id)
    )
    stripe_standin.complete_checkout(response.json()["checkout"]["session_id"])
    [completed] = stripe_standin.take_pending("checkout.session.completed")
    stripe_standin.take_pending()
    payload, headers = stripe_standin.signed(completed)

    responses = await asyncio.gather(
        *(client.post(WEBHOOK, content=payload, headers=headers) for _ in range(10))
    )

    assert [r.status_code for r in responses] == [200] * 10
    outcomes = sorted(r.json()["outcome"] for r in responses)
    assert outcomes == ["applied"] + ["duplicate"] * 9
    assert await events_recorded(app, completed["id"]) == 1
    body = await current(users, client, user_id)
    assert (body["plan"], body["sequence"]) == ("pro", 2)


async def _state_after(
    app: Any, users: Users, client: httpx.AsyncClient, stripe: StripeStandIn, order: tuple[str, ...]
) -> dict[str, Any]:
    user_id = await users.register()
    response = await client.post(
        "/api/subscriptions/subscribe", json={"plan": "pro"}, headers=users.auth(user_id)
    )
    sub_id = stripe.complete_checkout(response.json()["checkout"]["session_id"])
    # The customer then asks, in Stripe's portal, for the plan to end with the period.
    stripe.update_subscription(sub_id, {"cancel_at_period_end": "true"})
    events = {e["type"]: e for e in stripe.take_pending()}
    for type_ in order:
        assert await stripe.send(events[type_]) == 200
    body = await current(users, client, user_id)
    async with app.state.sessionmaker() as session:
        invoices = (
            await session.scalars(select(Invoice).where(Invoice.account_id == user_id))
        ).all()
        payments = (
            await session.scalars(select(Payment).where(Payment.account_id == user_id))
        ).all()
    return {
        "plan": body["plan"],
        "status": body["status"],
        "cancel_at_period_end": body["cancel_at_period_end"],
        "billed_by": body["billed_by"],
        "invoices": [(i.status, i.amount_paid) for i in invoices],
        "payments": [(p.status, p.amount) for p in payments],
    }


async def test_every_order_of_created_updated_and_invoice_paid_ends_in_the_same_state(
    app: Any, users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    kinds = ("customer.subscription.created", "customer.subscription.updated", "invoice.paid")
    states = {}
    for order in itertools.permutations(kinds):
        states[order] = await _state_after(app, users, client, stripe_standin, order)
    expected = {
        "plan": "pro",
        "status": "active",
        "cancel_at_period_end": True,
        "billed_by": "stripe",
        "invoices": [("paid", 2000)],
        "payments": [("succeeded", 2000)],
    }
    assert all(state == expected for state in states.values()), states


async def test_a_deleted_stripe_customer_drops_the_account_to_free(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id, sub_id = await subscribed_user(users, client, stripe_standin)
    stripe_standin.delete_customer(stripe_standin.subscriptions[sub_id]["customer"])
    [deleted] = stripe_standin.take_pending("customer.deleted")
    stripe_standin.take_pending()
    assert await stripe_standin.send(deleted) == 200
    assert (await current(users, client, user_id))["plan"] == "free"
    customer = await users.customer(user_id)
    assert customer is not None and customer.stripe_customer_id is None


async def test_an_event_about_an_object_stripe_no_longer_has_is_acknowledged_and_skipped(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id = await users.register()
    customer = await users.customer(user_id)
    assert customer is not None
    event = an_event("customer.subscription.updated")
    event["data"]["object"] = {
        "id": "sub_vanished",
        "object": "subscription",
        "customer": customer.stripe_customer_id,
        "status": "active",
    }
    payload, headers = stripe_standin.signed(event)
    response = await post(client, payload, headers["Stripe-Signature"])
    assert response.status_code == 200
    assert response.json()["outcome"] == "skipped"
    assert (await current(users, client, user_id))["plan"] == "free"
