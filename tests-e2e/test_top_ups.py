"""Top-ups end to end: a credit pack bought through Checkout becomes spendable credits,
once however Stripe delivers; a refund takes back only what is unused; auto top-up buys
once per crossing, not again while a purchase is pending, and a declined card turns it off.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest
from journeys import Person, balance, eventually, funded, register
from standins import BackgroundLoop

# These journeys spend a whole free allocation in one call and call again at once.
pytestmark = pytest.mark.usefixtures("free_plan_without_a_minute_limit")


PACK = "credits-1m"


async def chat(gateway: httpx.AsyncClient, person: Person, prompt: str) -> httpx.Response:
    return await gateway.post(
        "/v1/chat/completions",
        headers=person.headers,
        json={
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": 8,
        },
    )


def purchase_grants(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [g for g in body.get("grants") or [] if g["source"] == "purchase"]


async def purchases(gateway: httpx.AsyncClient, person: Person) -> list[dict[str, Any]]:
    response = await gateway.get("/api/billing/purchases", headers=person.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def buy_through_checkout(
    gateway: httpx.AsyncClient, person: Person, *, grants_before: int = 0
) -> dict[str, Any]:
    """Click "buy", pay on the stand-in's Checkout page, wait for the credits."""
    clicked = await gateway.post(
        f"/api/billing/credit-packs/{PACK}/checkout", headers=person.headers
    )
    assert clicked.status_code == 200, clicked.text
    again = await gateway.post(f"/api/billing/credit-packs/{PACK}/checkout", headers=person.headers)
    assert again.json()["session_id"] == clicked.json()["session_id"]  # the same page
    async with httpx.AsyncClient() as browser:
        paid = await browser.get(clicked.json()["checkout_url"])
    assert paid.status_code == 302
    await eventually(
        lambda: balance(gateway, person),
        lambda b: len(purchase_grants(b)) == grants_before + 1,
        what="the pack's grant",
    )
    return dict(clicked.json())


async def deliver_all(stripe: Any, events: list[dict[str, Any]]) -> list[int]:
    """Every event sent at once, as Stripe's retries and our replays may."""
    return list(await asyncio.gather(*(stripe.send(e) for e in events)))


def customer_of(outside: Any, person: Person) -> str:
    return next(c["id"] for c in outside.stripe.customers.values() if c["email"] == person.email)


async def drained(gateway: httpx.AsyncClient, person: Person) -> None:
    """The free allocation spent, so the next calls draw from what was bought."""
    await funded(gateway, person)
    first = await chat(gateway, person, "[[prompt:150000]] [[words:3]]")
    assert first.status_code == 200, first.text
    await eventually(
        lambda: balance(gateway, person),
        lambda b: b.get("available") == 0 and b.get("reserved") == 0,
        what="allocation spent",
    )


async def test_a_pack_bought_through_checkout_is_spendable_and_granted_once_whatever_stripe_sends(
    gateway: httpx.AsyncClient, outside: Any, outside_loop: BackgroundLoop
) -> None:
    person = await register(gateway, "Olive")
    await drained(gateway, person)
    refused = await chat(gateway, person, "hello")
    assert refused.status_code == 402

    checkout = await buy_through_checkout(gateway, person)

    # Stripe's two payment events for this pack, ten times each, at once and in any order.
    stripe = outside.stripe
    paid = [
        e
        for e in list(stripe.events)
        if e["type"] in ("checkout.session.completed", "payment_intent.succeeded")
        and e["data"]["object"]["metadata"].get("tollgate_purchase_id") == checkout["purchase_id"]
    ]
    assert len(paid) == 2
    storm = [event for event in paid for _ in range(10)]
    random.shuffle(storm)
    statuses = outside_loop.run(deliver_all(stripe, storm))
    assert set(statuses) == {200}
    await asyncio.sleep(1.0)  # every delivery has had time to reach usage

    after = await balance(gateway, person)
    [grant] = purchase_grants(after)
    assert grant["amount"] == 1_000_000 and grant["expires_at"] is not None
    assert after["available"] == 1_000_000
    assert [(p["status"], p["kind"]) for p in await purchases(gateway, person)] == [
        ("paid", "checkout")
    ]
    answered = await chat(gateway, person, "hello again [[words:3]]")
    assert answered.status_code == 200, answered.text
    await eventually(
        lambda: balance(gateway, person),
        lambda b: purchase_grants(b)[0]["used"] > 0,
        what="the call drawn from the pack",
    )


async def test_refunding_a_pack_takes_back_only_its_unused_credits(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    person = await register(gateway, "Pablo")
    await drained(gateway, person)
    await buy_through_checkout(gateway, person)
    spent = await chat(gateway, person, "[[prompt:20000]] [[words:3]]")
    assert spent.status_code == 200, spent.text
    used = await eventually(
        lambda: balance(gateway, person),
        lambda b: purchase_grants(b)[0]["used"] > 0 and b.get("reserved") == 0,
        what="the pack partly spent",
    )
    spent_credits = purchase_grants(used)[0]["used"]
    payments = await gateway.get(
        "/api/admin/payments", params={"account_id": person.user_id}, headers=admin
    )
    [payment] = payments.json()["items"]

    too_much = await gateway.post(
        f"/api/admin/payments/{payment['id']}/refund",
        json={"amount": payment["amount"] + 1},
        headers={**admin, "Idempotency-Key": f"too-much-{person.user_id}"},
    )
    refunded = await gateway.post(f"/api/admin/payments/{payment['id']}/refund", headers=admin)

    assert too_much.status_code == 400
    assert refunded.status_code == 201, refunded.text
    after = await eventually(
        lambda: balance(gateway, person),
        lambda b: purchase_grants(b)[0]["remaining"] == 0,
        what="the unused credits taken back",
    )
    [grant] = purchase_grants(after)
    assert grant["amount"] == grant["used"] == spent_credits  # what was spent stays spent
    assert after["available"] == 0


async def set_auto_top_up(
    gateway: httpx.AsyncClient, person: Person, threshold: int
) -> httpx.Response:
    return await gateway.put(
        "/api/billing/auto-top-up",
        json={"enabled": True, "threshold": threshold, "pack_code": PACK},
        headers=person.headers,
    )


async def settled(gateway: httpx.AsyncClient, person: Person) -> dict[str, Any]:
    return await eventually(
        lambda: balance(gateway, person), lambda b: b.get("reserved") == 0, what="settled"
    )


def auto(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in items if p["kind"] == "auto"]


async def watch_reaches_usage() -> None:
    """The setting travels from billing to usage as ``auto_top_up.changed``; a call settled
    before usage has it crosses nothing. No route shows usage's copy, so give it a moment
    (it takes milliseconds; a loaded machine has made it take longer)."""
    await asyncio.sleep(1.0)


async def test_auto_top_up_buys_once_per_crossing_and_not_again_while_one_is_pending(
    gateway: httpx.AsyncClient, outside: Any
) -> None:
    person = await register(gateway, "Quinn")
    await funded(gateway, person)
    without_card = await set_auto_top_up(gateway, person, 1_000)
    assert without_card.status_code == 409  # no saved card yet
    await buy_through_checkout(gateway, person)
    start = await settled(gateway, person)
    assert (await set_auto_top_up(gateway, person, start["available"] - 100)).status_code == 200
    await watch_reaches_usage()

    # A call that takes the balance below the threshold: one pack bought off-session.
    assert (await chat(gateway, person, "[[prompt:20000]] [[words:3]]")).status_code == 200
    # A balance read while the grant commits may list it before it counts it: wait for both.
    topped = await eventually(
        lambda: balance(gateway, person),
        lambda b: len(purchase_grants(b)) == 2 and b["available"] > start["available"],
        what="the auto top-up's grant",
    )
    assert len(purchase_grants(topped)) == 2
    assert [p["status"] for p in auto(await purchases(gateway, person))] == ["paid"]

    # A slow payment: the next crossing starts a purchase that stays pending.
    stripe = outside.stripe
    customer = customer_of(outside, person)
    stripe.slow_payments.add(customer)
    try:
        now = await settled(gateway, person)
        await set_auto_top_up(gateway, person, now["available"] - 100)
        await watch_reaches_usage()
        for _ in range(3):  # the first crosses; the rest stay below while it is pending
            assert (await chat(gateway, person, "[[prompt:20000]] [[words:3]]")).status_code == 200
            await settled(gateway, person)
        pending = await eventually(
            lambda: purchases(gateway, person),
            lambda items: any(p["status"] == "pending" for p in auto(items)),
            what="a pending top-up",
        )
        await asyncio.sleep(1.0)
        assert [p["status"] for p in auto(await purchases(gateway, person))] == [
            "pending",
            "paid",
        ]
        [intent_id] = [
            i["id"]
            for i in stripe.payment_intents.values()
            if i["status"] == "processing" and i["customer"] == customer
        ]
    finally:
        stripe.slow_payments.discard(customer)
    stripe.settle_payment(intent_id)
    await eventually(
        lambda: balance(gateway, person),
        lambda b: len(purchase_grants(b)) == 3,
        what="the pending top-up's grant",
    )
    assert [p["status"] for p in auto(await purchases(gateway, person))] == ["paid", "paid"]
    assert pending


async def test_a_declined_card_turns_auto_top_up_off_and_tells_the_person(
    gateway: httpx.AsyncClient, outside: Any
) -> None:
    person = await register(gateway, "Rosa")
    await funded(gateway, person)
    await buy_through_checkout(gateway, person)
    start = await settled(gateway, person)
    assert (await set_auto_top_up(gateway, person, start["available"] - 100)).status_code == 200
    await watch_reaches_usage()
    customer = customer_of(outside, person)
    outside.stripe.declining.add(customer)
    try:
        assert (await chat(gateway, person, "[[prompt:20000]] [[words:3]]")).status_code == 200
        setting = await eventually(
            lambda: gateway.get("/api/billing/auto-top-up", headers=person.headers),
            lambda r: r.json()["enabled"] is False,
            what="auto top-up turned off",
        )
    finally:
        outside.stripe.declining.discard(customer)

    assert "declined" in setting.json()["disabled_reason"]
    assert [p["status"] for p in auto(await purchases(gateway, person))] == ["failed"]
    assert len(purchase_grants(await balance(gateway, person))) == 1
    mail = await eventually(
        lambda: mailed(outside, person),
        lambda found: bool(found),
        what="the auto top-up notice",
    )
    assert mail[0]["Subject"] == "Your auto top-up is off"
    body = mail[0].get_payload(decode=True).decode()
    assert "declined" in body and "/billing/credits" in body


async def mailed(outside: Any, person: Person) -> list[Any]:
    return [m for m in outside.mail.messages if person.email in str(m["To"])]
