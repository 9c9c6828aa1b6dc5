"""Who may spend, cap or cancel is decided from current facts, through the gateway.

Each test is a finding of the outside security pass, replayed as it was found:
callers whose role, membership, cap or permission changed a moment before still
hold a token minted earlier, and the services must not trust it. Changes travel
by event, so each test waits for them, a few seconds at most.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
from journeys import PASSWORD, Person, balance, eventually, funded, login, register

from tollgate.standins.stripe import sign

FACT_TIMEOUT = 10.0  # seconds an announced change may take to reach every service


async def chat(
    gateway: httpx.AsyncClient, person: Person, prompt: str, max_tokens: int = 16
) -> httpx.Response:
    return await gateway.post(
        "/v1/chat/completions",
        headers=person.headers,
        json={
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
        },
    )


async def refreshed(gateway: httpx.AsyncClient, person: Person) -> Person:
    response = await gateway.post("/api/auth/refresh", json={"refresh_token": person.refresh_token})
    assert response.status_code == 200, response.text
    body = response.json()
    return Person(person.email, body["access_token"], body["refresh_token"], person.user_id)


async def organization(gateway: httpx.AsyncClient, owner: Person) -> tuple[str, Person]:
    created = await gateway.post("/api/organizations", json={"name": "Acme"}, headers=owner.headers)
    assert created.status_code == 201, created.text
    return created.json()["id"], await refreshed(gateway, owner)


async def join(
    gateway: httpx.AsyncClient, outside: Any, owner: Person, org_id: str, role: str, name: str
) -> Person:
    """A person invited by the owner, registered with the invited address, in the org."""
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    invited = await gateway.post(
        f"/api/organizations/{org_id}/invitations",
        json={"email": email, "role": role},
        headers=owner.headers,
    )
    assert invited.status_code == 201, invited.text

    async def sent() -> str | None:
        try:
            token: str = outside.mail.token_sent_to(email, "/invitations/accept")
            return token
        except AssertionError:
            return None

    token = await eventually(sent, lambda t: t is not None, what="invitation mail")
    signup = await gateway.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert signup.status_code == 201, signup.text
    body = signup.json()
    person = Person(email, body["access_token"], body["refresh_token"], body["user"]["id"])
    accepted = await gateway.post(
        "/api/organizations/invitations/accept", json={"token": token}, headers=person.headers
    )
    assert accepted.status_code == 200, accepted.text
    return await refreshed(gateway, person)


async def pay(checkout_url: str) -> None:
    async with httpx.AsyncClient() as browser:
        paid = await browser.get(checkout_url)  # the stand-in's page pays and redirects
    assert paid.status_code == 302


async def paying_org(gateway: httpx.AsyncClient, outside: Any) -> tuple[str, Person]:
    """An organization on enterprise, bought by its owner through Checkout."""
    owner = await register(gateway, "Owner")
    org_id, owner = await organization(gateway, owner)

    async def subscribe() -> httpx.Response:
        return await gateway.post(
            "/api/subscriptions/subscribe",
            json={"plan": "enterprise", "org_id": org_id},
            headers=owner.headers,
        )

    # Billing hears that the owner owns the organization a moment after it is made.
    subscribed = await eventually(subscribe, lambda r: r.status_code == 200, timeout=FACT_TIMEOUT)
    await pay(subscribed.json()["checkout"]["checkout_url"])
    await eventually(
        lambda: org_subscription(gateway, owner, org_id),
        lambda s: s.get("plan") == "enterprise",
        timeout=30,
        what="enterprise for the organization",
    )
    return org_id, owner


async def org_subscription(
    gateway: httpx.AsyncClient, person: Person, org_id: str
) -> dict[str, Any]:
    response = await gateway.get(
        f"/api/subscriptions/current?org_id={org_id}", headers=person.headers
    )
    if response.status_code != 200:
        return {"status": response.status_code}
    result: dict[str, Any] = response.json()
    return result


async def test_a_plain_member_cannot_cancel_the_organizations_paid_plan(
    gateway: httpx.AsyncClient, outside: Any
) -> None:
    org_id, owner = await paying_org(gateway, outside)
    member = await join(gateway, outside, owner, org_id, "member", "Member")
    await eventually(
        lambda: org_subscription(gateway, member, org_id),
        lambda s: s.get("plan") == "enterprise",
        timeout=FACT_TIMEOUT,
        what="the member sees the organization's plan",
    )

    cancelled = await gateway.post(
        "/api/subscriptions/cancel", json={"org_id": org_id}, headers=member.headers
    )
    downgraded = await gateway.put(
        "/api/subscriptions/upgrade", json={"plan": "pro", "org_id": org_id}, headers=member.headers
    )

    assert cancelled.status_code == downgraded.status_code == 403
    plan = await org_subscription(gateway, owner, org_id)
    assert (plan["plan"], plan["cancel_at_period_end"]) == ("enterprise", False)


async def test_a_member_removed_a_moment_ago_can_neither_read_invoices_nor_cancel(
    gateway: httpx.AsyncClient, outside: Any
) -> None:
    org_id, owner = await paying_org(gateway, outside)
    member = await join(gateway, outside, owner, org_id, "member", "Leaver")
    invoices = f"/api/billing/invoices?org_id={org_id}"
    await eventually(
        lambda: gateway.get(invoices, headers=member.headers),
        lambda r: r.status_code == 200,
        timeout=FACT_TIMEOUT,
        what="the member reads the invoices",
    )

    removed = await gateway.delete(
        f"/api/organizations/{org_id}/members/{member.user_id}", headers=owner.headers
    )
    assert removed.status_code == 204

    # The member's token still names the organization for up to 15 minutes.
    await eventually(
        lambda: gateway.get(invoices, headers=member.headers),
        lambda r: r.status_code == 404,
        timeout=FACT_TIMEOUT,
        what="invoices closed to the removed member",
    )
    cancelled = await gateway.post(
        "/api/subscriptions/cancel", json={"org_id": org_id}, headers=member.headers
    )
    assert cancelled.status_code == 404
    assert (await org_subscription(gateway, owner, org_id))["cancel_at_period_end"] is False


async def test_a_lowered_sub_user_cap_stops_its_spending_within_seconds(
    gateway: httpx.AsyncClient,
) -> None:
    parent = await register(gateway, "Parent")
    await funded(gateway, parent)
    email = f"kid-{uuid.uuid4().hex[:8]}@example.com"
    created = await gateway.post(
        "/api/sub-users",
        json={"email": email, "password": PASSWORD, "token_limit": 50_000},
        headers=parent.headers,
    )
    assert created.status_code == 201, created.text
    child = await login(gateway, email)
    assert (await chat(gateway, child, "hi [[words:3]]")).status_code == 200

    lowered = await gateway.put(
        f"/api/sub-users/{created.json()['id']}", json={"token_limit": 0}, headers=parent.headers
    )
    assert lowered.status_code == 200

    refused = await eventually(
        lambda: chat(gateway, child, "one more"),
        lambda r: r.status_code != 200,
        timeout=FACT_TIMEOUT,
        what="the cap of 0 at usage",
    )
    assert refused.status_code == 402
    assert refused.json()["error"]["type"] == "insufficient_quota"


async def test_a_sub_user_without_the_llm_permission_cannot_call_the_llm(
    gateway: httpx.AsyncClient, outside: Any
) -> None:
    parent = await register(gateway, "Parent")
    await funded(gateway, parent)
    email = f"reader-{uuid.uuid4().hex[:8]}@example.com"
    created = await gateway.post(
        "/api/sub-users",
        json={"email": email, "password": PASSWORD, "permissions": ["read"]},
        headers=parent.headers,
    )
    assert created.status_code == 201, created.text
    child = await login(gateway, email)

    async def refused() -> httpx.Response:
        return await chat(gateway, child, "hello")

    # Usage hears of the sub-user (and its permissions) a moment after it is made.
    await eventually(refused, lambda r: r.status_code == 403, timeout=FACT_TIMEOUT)
    calls_before = outside.llm.calls
    before = await balance(gateway, parent)
    answer = await refused()

    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["type"] == "permission_error" and error["code"] == "llm_not_permitted"
    assert "llm permission" in error["message"]
    assert outside.llm.calls == calls_before
    after = await balance(gateway, parent)
    assert (after["available"], after["reserved"]) == (before["available"], before["reserved"])


async def test_an_admin_demoted_a_moment_ago_can_no_longer_set_caps_and_never_caps_the_owner(
    gateway: httpx.AsyncClient, outside: Any
) -> None:
    owner = await register(gateway, "Owner")
    org_id, owner = await organization(gateway, owner)
    admin = await join(gateway, outside, owner, org_id, "admin", "Admin")
    member = await join(gateway, outside, owner, org_id, "member", "Member")

    async def cap(who: Person, target: Person, tokens: int) -> httpx.Response:
        return await gateway.put(
            f"/api/tokens/caps/{target.user_id}", json={"cap_tokens": tokens}, headers=who.headers
        )

    await eventually(
        lambda: cap(admin, member, 1_000),
        lambda r: r.status_code == 200,
        timeout=FACT_TIMEOUT,
        what="the admin caps a member",
    )
    capping_owner = await cap(admin, owner, 0)
    assert capping_owner.status_code == 403

    demoted = await gateway.put(
        f"/api/organizations/{org_id}/members/{admin.user_id}",
        json={"role": "member"},
        headers=owner.headers,
    )
    assert demoted.status_code == 204
    # Same token as before the demotion: its claims have not changed.
    refused = await eventually(
        lambda: cap(admin, member, 5),
        lambda r: r.status_code != 200,
        timeout=FACT_TIMEOUT,
        what="the demotion at usage",
    )
    assert refused.status_code == 403
    assert (await cap(owner, member, 2_000)).status_code == 200


async def test_one_checkout_page_per_plan_and_a_second_paid_subscription_is_refunded(
    gateway: httpx.AsyncClient, outside: Any
) -> None:
    person = await register(gateway, "Buyer")
    await funded(gateway, person)

    async def checkout(plan: str, key: str) -> dict[str, str]:
        response = await gateway.post(
            "/api/subscriptions/subscribe",
            json={"plan": plan},
            headers={**person.headers, "Idempotency-Key": key},
        )
        assert response.status_code == 200, response.text
        page: dict[str, str] = response.json()["checkout"]
        return page

    first = await checkout("pro", "tab-one")
    second = await checkout("pro", "tab-two")
    assert first == second

    enterprise = await checkout("enterprise", "tab-three")
    await pay(first["checkout_url"])
    await eventually(
        lambda: balance(gateway, person), lambda b: b.get("plan") == "pro", timeout=30, what="pro"
    )
    await pay(enterprise["checkout_url"])

    stripe = outside.stripe
    duplicate = stripe.sessions[enterprise["session_id"]]["subscription"]
    await eventually(
        lambda: _refunds_for(gateway, person),
        lambda refunded: refunded == [10_000],
        timeout=30,
        what="the second subscription refunded",
    )
    assert stripe.subscriptions[duplicate]["status"] == "canceled"
    kept = stripe.sessions[first["session_id"]]["subscription"]
    assert stripe.subscriptions[kept]["status"] == "active"
    current = await gateway.get("/api/subscriptions/current", headers=person.headers)
    assert current.json()["plan"] == "pro"


async def _refunds_for(gateway: httpx.AsyncClient, person: Person) -> list[int]:
    response = await gateway.get("/api/billing/payments", headers=person.headers)
    return [p["amount_refunded"] for p in response.json()["items"] if p["amount_refunded"]]


async def test_the_sole_owner_cannot_delete_their_account_and_leave_members_without_an_owner(
    gateway: httpx.AsyncClient, outside: Any
) -> None:
    owner = await register(gateway, "Owner")
    org_id, owner = await organization(gateway, owner)
    member = await join(gateway, outside, owner, org_id, "member", "Member")

    refused = await gateway.request(
        "DELETE", "/api/users/account", json={"password": PASSWORD}, headers=owner.headers
    )
    assert refused.status_code == 409
    assert "owner" in refused.json()["detail"]

    promoted = await gateway.put(
        f"/api/organizations/{org_id}/members/{member.user_id}",
        json={"role": "admin"},
        headers=owner.headers,
    )
    assert promoted.status_code == 204
    deleted = await gateway.request(
        "DELETE", "/api/users/account", json={"password": PASSWORD}, headers=owner.headers
    )
    assert deleted.status_code == 204
    members = await gateway.get(f"/api/organizations/{org_id}/members", headers=member.headers)
    assert [(m["user_id"], m["role"]) for m in members.json()] == [(member.user_id, "owner")]


async def test_a_signed_but_malformed_stripe_event_is_a_400_not_a_500(
    gateway: httpx.AsyncClient, outside: Any
) -> None:
    now = int(time.time())
    base = {"object": "event", "type": "invoice.paid", "created": now}
    malformed = [
        {**base, "id": "evt_" + "x" * 296, "data": {"object": {"id": "in_1"}}},
        {**base, "id": "evt_long_type", "type": "x" * 150, "data": {"object": {"id": "in_1"}}},
        {**base, "id": "evt_far", "created": 10**20, "data": {"object": {"id": "in_1"}}},
        {**base, "id": "evt_no_object_id", "data": {"object": {"object": "invoice"}}},
        {**base, "id": "evt_\x00", "data": {"object": {"id": "in_1"}}},
    ]
    bodies = [json.dumps(event).encode() for event in malformed]
    bodies.append(b'{"id": "evt_deep", "data": ' + b"[" * 20_000 + b"]" * 20_000 + b"}")

    for body in bodies:
        header = sign(body, outside.stripe.webhook_secret, int(time.time()))
        response = await gateway.post(
            "/api/billing/webhooks/stripe",
            content=body,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )
        assert response.status_code == 400, (body[:80], response.status_code, response.text)


async def test_money_sent_as_a_string_is_refused_not_coerced(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    person = await register(gateway, "Payee")
    before = await funded(gateway, person)

    granted = await gateway.post(
        "/api/admin/grants",
        json={"account_id": person.user_id, "amount": "100", "reason": "goodwill"},
        headers=admin,
    )

    assert granted.status_code == 422
    assert (await balance(gateway, person))["available"] == before["available"]
