"""Credit packs: the catalog, buying one once, refunds and auto top-up, against the real
database and broker, with the Stripe stand-in."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from typing import Any

import httpx
import pytest
from conftest import Users
from fastapi import FastAPI
from sqlalchemy import select

from tollgate.billing.models import AutoTopUp, Purchase, messaging
from tollgate.shared.messaging import make_envelope
from tollgate.shared.messaging.broker import Broker
from tollgate.shared.messaging.events import TopUpRequested
from tollgate.standins.stripe import StripeStandIn

PACK = {
    "name": "Test pack",
    "credits": 2_000_000,
    "price_cents": 800,
    "currency": "usd",
    "valid_days": 90,
}


async def new_pack(client: httpx.AsyncClient, users: Users, **changes: Any) -> str:
    code = f"pack-{uuid.uuid4().hex[:8]}"
    response = await client.post(
        "/api/admin/credit-packs", json={**PACK, "code": code, **changes}, headers=users.admin()
    )
    assert response.status_code == 201, response.text
    return code


async def buy(
    client: httpx.AsyncClient, users: Users, user_id: uuid.UUID, code: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/api/billing/credit-packs/{code}/checkout", json=body, headers=users.auth(user_id)
    )


async def events(app: FastAPI, event_type: str, account_id: uuid.UUID) -> list[dict[str, Any]]:
    """What billing wrote to its outbox of this type about the account."""
    async with app.state.sessionmaker() as session:
        bodies = await session.scalars(
            select(messaging.outbox.c.body).where(messaging.outbox.c.event_type == event_type)
        )
        found = [json.loads(b) for b in bodies]
    return [e["data"] for e in found if e["data"]["account_id"] == str(account_id)]


async def purchases_of(app: FastAPI, account_id: uuid.UUID) -> list[Purchase]:
    async with app.state.sessionmaker() as session:
        rows = await session.scalars(select(Purchase).where(Purchase.account_id == account_id))
        return list(rows)


async def bought_pack(
    client: httpx.AsyncClient, users: Users, stripe: StripeStandIn, code: str
) -> tuple[uuid.UUID, str]:
    """A user who paid for ``code`` through Checkout, every webhook delivered."""
    user_id = await users.register()
    response = await buy(client, users, user_id, code)
    assert response.status_code == 200, response.text
    stripe.complete_checkout(response.json()["session_id"])
    assert set(await stripe.deliver_pending()) == {200}
    return user_id, response.json()["purchase_id"]


async def test_admins_create_edit_and_retire_packs_and_people_see_only_those_for_sale(
    client: httpx.AsyncClient, users: Users
) -> None:
    code = await new_pack(client, users)
    person = users.auth(uuid.uuid4())

    listed = (await client.get("/api/billing/credit-packs", headers=person)).json()
    assert {"code": code, **PACK, "active": True} in listed
    assert {"credits-1m", "credits-5m", "credits-25m"} <= {p["code"] for p in listed}

    edited = await client.patch(
        f"/api/admin/credit-packs/{code}",
        json={"price_cents": 900, "valid_days": None},
        headers=users.admin(),
    )
    assert edited.json()["price_cents"] == 900 and edited.json()["valid_days"] is None
    await client.patch(
        f"/api/admin/credit-packs/{code}", json={"active": False}, headers=users.admin()
    )

    listed = (await client.get("/api/billing/credit-packs", headers=person)).json()
    assert code not in {p["code"] for p in listed}
    everything = (await client.get("/api/admin/credit-packs", headers=users.admin())).json()
    assert code in {p["code"] for p in everything}
    retired = await buy(client, users, uuid.uuid4(), code)
    assert retired.status_code == 404


@pytest.mark.parametrize(
    "change",
    [
        {"credits": -5},
        {"credits": 0},
        {"credits": 1.5},
        {"credits": "1000"},
        {"credits": 10**15},
        {"price_cents": 0},
        {"price_cents": -100},
        {"price_cents": 4.99},
        {"price_cents": 10**12},
        {"valid_days": 0},
        {"valid_days": 7},
        {"currency": "dollars"},
        {"code": "Not A Code!"},
    ],
)
async def test_a_pack_with_a_bad_size_or_price_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient, users: Users, change: dict[str, Any]
) -> None:
    code = f"bad-{uuid.uuid4().hex[:8]}"
    response = await client.post(
        "/api/admin/credit-packs", json={**PACK, "code": code, **change}, headers=users.admin()
    )

    assert response.status_code == 422, response.text
    everything = (await client.get("/api/admin/credit-packs", headers=users.admin())).json()
    assert code not in {p["code"] for p in everything}


async def test_people_cannot_edit_the_catalog_and_a_taken_code_is_a_conflict(
    client: httpx.AsyncClient, users: Users
) -> None:
    code = await new_pack(client, users)

    as_person = await client.post(
        "/api/admin/credit-packs",
        json={**PACK, "code": "mine"},
        headers=users.auth(uuid.uuid4()),
    )
    again = await client.post(
        "/api/admin/credit-packs", json={**PACK, "code": code}, headers=users.admin()
    )

    assert as_person.status_code == 403
    assert again.status_code == 409


async def test_a_second_click_for_the_same_pack_gets_the_open_checkout_page(
    client: httpx.AsyncClient, users: Users, stripe_standin: StripeStandIn
) -> None:
    code = await new_pack(client, users)
    user_id = await users.register()

    clicks = await asyncio.gather(*(buy(client, users, user_id, code) for _ in range(5)))

    assert {r.status_code for r in clicks} == {200}
    assert len({r.json()["session_id"] for r in clicks}) == 1
    page = stripe_standin.sessions[clicks[0].json()["session_id"]]
    assert page["mode"] == "payment"
    assert len(await purchases_of(users.app, user_id)) == 1

    stripe_standin.expire_checkout(clicks[0].json()["session_id"])
    after_expiry = await buy(client, users, user_id, code)
    assert after_expiry.json()["session_id"] != clicks[0].json()["session_id"]


async def test_the_payment_webhooks_ten_times_concurrently_and_out_of_order_buy_one_pack(
    app: FastAPI, client: httpx.AsyncClient, users: Users, stripe_standin: StripeStandIn
) -> None:
    code = await new_pack(client, users)
    user_id = await users.register()
    checkout = (await buy(client, users, user_id, code)).json()
    stripe_standin.complete_checkout(checkout["session_id"])
    paid = stripe_standin.take_pending("checkout.session.completed", "payment_intent.succeeded")
    assert len(paid) == 2
    stripe_standin.take_pending()

    deliveries = [event for event in paid for _ in range(10)]
    random.shuffle(deliveries)
    statuses = await asyncio.gather(*(stripe_standin.send(e) for e in deliveries))

    assert set(statuses) == {200}
    [purchase] = await purchases_of(app, user_id)
    assert purchase.status == "paid" and purchase.charge_id is not None
    [event] = await events(app, "credits.purchased", user_id)
    assert event["purchase_id"] == checkout["purchase_id"]
    assert event["credits"] == PACK["credits"] and event["pack_code"] == code
    assert event["expires_at"] is not None
    listed = await client.get("/api/billing/purchases", headers=users.auth(user_id))
    assert [(p["status"], p["credits"]) for p in listed.json()["items"]] == [("paid", 2_000_000)]
    payments = await client.get("/api/billing/payments", headers=users.auth(user_id))
    assert [p["amount"] for p in payments.json()["items"]] == [PACK["price_cents"]]


async def test_refunding_part_of_a_pack_takes_back_that_share_of_its_credits_once(
    app: FastAPI, client: httpx.AsyncClient, users: Users, stripe_standin: StripeStandIn
) -> None:
    code = await new_pack(client, users)
    user_id, _ = await bought_pack(client, users, stripe_standin, code)
    [purchase] = await purchases_of(app, user_id)
    refund_url = f"/api/admin/payments/{purchase.charge_id}/refund"
    half = {**users.admin(), "Idempotency-Key": f"half-{uuid.uuid4()}"}

    first = await client.post(refund_url, json={"amount": 400}, headers=half)
    replay = await client.post(refund_url, json={"amount": 400}, headers=half)
    await stripe_standin.deliver_pending()  # charge.refunded says the same again
    too_much = await client.post(
        refund_url, json={"amount": 401}, headers={**users.admin(), "Idempotency-Key": "more"}
    )

    assert first.status_code == 201 and replay.status_code == 200
    assert too_much.status_code == 400
    assert [e["credits"] for e in await events(app, "credits.refunded", user_id)] == [1_000_000]

    rest = await client.post(refund_url, headers=users.admin())
    assert rest.status_code == 201
    refunded = await events(app, "credits.refunded", user_id)
    assert sorted(e["credits"] for e in refunded) == [1_000_000, 1_000_000]


async def test_auto_top_up_needs_a_card_saved_by_an_earlier_pack(
    client: httpx.AsyncClient, users: Users, stripe_standin: StripeStandIn
) -> None:
    code = await new_pack(client, users)
    user_id = await users.register()
    setting = {"enabled": True, "threshold": 100_000, "pack_code": code}

    refused = await client.put(
        "/api/billing/auto-top-up", json=setting, headers=users.auth(user_id)
    )

    assert refused.status_code == 409
    assert refused.json()["type"].endswith("no-saved-card")
    shown = await client.get("/api/billing/auto-top-up", headers=users.auth(user_id))
    assert shown.json()["enabled"] is False

    buyer, _ = await bought_pack(client, users, stripe_standin, code)
    accepted = await client.put("/api/billing/auto-top-up", json=setting, headers=users.auth(buyer))
    assert accepted.status_code == 200
    assert accepted.json() | {"account_id": None} == {
        "account_id": None,
        "enabled": True,
        "threshold": 100_000,
        "pack_code": code,
        "disabled_reason": None,
    }


async def with_auto_top_up(
    client: httpx.AsyncClient, users: Users, stripe: StripeStandIn
) -> tuple[uuid.UUID, str]:
    code = await new_pack(client, users)
    user_id, _ = await bought_pack(client, users, stripe, code)
    response = await client.put(
        "/api/billing/auto-top-up",
        json={"enabled": True, "threshold": 100_000, "pack_code": code},
        headers=users.auth(user_id),
    )
    assert response.status_code == 200, response.text
    return user_id, code


async def request_top_up(broker: Broker, account_id: uuid.UUID, crossing: uuid.UUID) -> None:
    data = TopUpRequested(account_id=account_id, crossing_id=crossing, remaining=10, threshold=100)
    await broker.publish(make_envelope("usage", account_id, data))


async def until(app: FastAPI, account_id: uuid.UUID, count: int, status: str) -> list[Purchase]:
    for _ in range(200):
        found = [p for p in await purchases_of(app, account_id) if p.kind == "auto"]
        if len(found) >= count and all(p.status == status for p in found):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {count} {status} auto purchases: {found}")


async def test_a_crossing_buys_the_pack_off_session_once_however_often_it_is_asked(
    app: FastAPI,
    client: httpx.AsyncClient,
    users: Users,
    broker: Broker,
    stripe_standin: StripeStandIn,
) -> None:
    user_id, code = await with_auto_top_up(client, users, stripe_standin)
    crossing = uuid.uuid4()

    for _ in range(3):
        await request_top_up(broker, user_id, crossing)
    [purchase] = await until(app, user_id, 1, "paid")
    await asyncio.sleep(0.3)  # the redeliveries have had their chance

    assert len(await purchases_of(app, user_id)) == 2  # the Checkout one and this one
    intent = stripe_standin.payment_intents[str(purchase.payment_intent_id)]
    assert intent["metadata"]["tollgate_pack"] == code
    bought = await events(app, "credits.purchased", user_id)
    assert str(purchase.id) in {e["purchase_id"] for e in bought} and len(bought) == 2

    await request_top_up(broker, user_id, uuid.uuid4())  # the next crossing buys again
    await until(app, user_id, 2, "paid")


async def test_no_second_top_up_starts_while_one_is_pending(
    app: FastAPI,
    client: httpx.AsyncClient,
    users: Users,
    broker: Broker,
    stripe_standin: StripeStandIn,
) -> None:
    user_id, _ = await with_auto_top_up(client, users, stripe_standin)
    customer = await users.customer(user_id)
    assert customer is not None and customer.stripe_customer_id is not None
    stripe_standin.slow_payments.add(customer.stripe_customer_id)

    await request_top_up(broker, user_id, uuid.uuid4())
    [pending] = await until(app, user_id, 1, "pending")
    await request_top_up(broker, user_id, uuid.uuid4())
    await asyncio.sleep(0.5)
    assert len([p for p in await purchases_of(app, user_id) if p.kind == "auto"]) == 1

    stripe_standin.settle_payment(str(pending.payment_intent_id))
    assert set(await stripe_standin.deliver_pending()) == {200}
    await until(app, user_id, 1, "paid")
    stripe_standin.slow_payments.discard(customer.stripe_customer_id)


async def test_a_declined_card_turns_auto_top_up_off_and_says_why(
    app: FastAPI,
    client: httpx.AsyncClient,
    users: Users,
    broker: Broker,
    stripe_standin: StripeStandIn,
) -> None:
    user_id, _ = await with_auto_top_up(client, users, stripe_standin)
    customer = await users.customer(user_id)
    assert customer is not None and customer.stripe_customer_id is not None
    stripe_standin.declining.add(customer.stripe_customer_id)

    await request_top_up(broker, user_id, uuid.uuid4())
    [failed] = await until(app, user_id, 1, "failed")

    shown = (await client.get("/api/billing/auto-top-up", headers=users.auth(user_id))).json()
    assert shown["enabled"] is False and "declined" in shown["disabled_reason"]
    [told] = await events(app, "auto_top_up.disabled", user_id)
    assert told["user_id"] == str(user_id) and "declined" in told["reason"]
    changes = await events(app, "auto_top_up.changed", user_id)
    assert [c["enabled"] for c in sorted(changes, key=lambda c: c["sequence"])] == [True, False]
    async with app.state.sessionmaker() as session:
        setting = await session.get(AutoTopUp, user_id)
    assert setting is not None and not setting.enabled
    assert failed.failure is not None
    await request_top_up(broker, user_id, uuid.uuid4())  # off: nothing more is tried
    await asyncio.sleep(0.3)
    assert len([p for p in await purchases_of(app, user_id) if p.kind == "auto"]) == 1
    stripe_standin.declining.discard(customer.stripe_customer_id)


async def test_only_an_organizations_owners_buy_packs_for_its_pool(
    client: httpx.AsyncClient, users: Users
) -> None:
    code = await new_pack(client, users)
    org_id = uuid.uuid4()
    owner, member = await users.register(org_id=org_id), await users.register(org_id=org_id)
    await users.join(org_id, owner, role="owner")
    await users.join(org_id, member, role="member")

    by_member = await buy(client, users, member, code, org_id=str(org_id))
    by_owner = await buy(client, users, owner, code, org_id=str(org_id))
    by_stranger = await buy(client, users, uuid.uuid4(), code, org_id=str(org_id))

    assert by_member.status_code == 403
    assert by_owner.status_code == 200
    assert by_stranger.status_code == 404


async def test_a_refund_made_in_stripe_takes_back_an_organizations_pack_and_keeps_it_the_orgs(
    app: FastAPI, client: httpx.AsyncClient, users: Users, stripe_standin: StripeStandIn
) -> None:
    code = await new_pack(client, users)
    org_id = uuid.uuid4()
    owner = await users.register(org_id=org_id)
    await users.join(org_id, owner, role="owner")
    checkout = (await buy(client, users, owner, code, org_id=str(org_id))).json()
    stripe_standin.complete_checkout(checkout["session_id"])
    assert set(await stripe_standin.deliver_pending()) == {200}
    [purchase] = await purchases_of(app, org_id)

    stripe_standin.create_refund({"charge": purchase.charge_id, "amount": "200"})  # the dashboard
    assert set(await stripe_standin.deliver_pending()) == {200}

    [event] = await events(app, "credits.refunded", org_id)
    assert event["credits"] == PACK["credits"] * 200 // PACK["price_cents"]
    assert event["purchase_id"] == checkout["purchase_id"]
    payments = await client.get(
        "/api/billing/payments", params={"org_id": str(org_id)}, headers=users.auth(owner)
    )
    assert [(p["amount"], p["amount_refunded"]) for p in payments.json()["items"]] == [
        (PACK["price_cents"], 200)
    ]
