"""Journey 4, organizations: members share the organization's pool, each within the
cap an owner sets."""

from __future__ import annotations

import uuid

import httpx
from journeys import PASSWORD, Person, balance, eventually, funded, register


async def refreshed(gateway: httpx.AsyncClient, person: Person) -> Person:
    """New tokens carry the claims as they are now (here: the organization)."""
    response = await gateway.post("/api/auth/refresh", json={"refresh_token": person.refresh_token})
    assert response.status_code == 200, response.text
    body = response.json()
    return Person(person.email, body["access_token"], body["refresh_token"], person.user_id)


async def chat(
    gateway: httpx.AsyncClient, person: Person, prompt: str, max_tokens: int
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


async def test_members_share_the_organization_pool_within_their_caps(
    gateway: httpx.AsyncClient, outside: object
) -> None:
    owner = await register(gateway, "Owner")
    await funded(gateway, owner)
    org = await gateway.post("/api/organizations", json={"name": "Acme"}, headers=owner.headers)
    assert org.status_code == 201, org.text
    org_id = org.json()["id"]
    owner = await refreshed(gateway, owner)

    subscribed = await gateway.post(
        "/api/subscriptions/subscribe",
        json={"plan": "pro", "org_id": org_id, "seats": 2},
        headers=owner.headers,
    )
    assert subscribed.status_code in (200, 201), subscribed.text
    async with httpx.AsyncClient() as browser:
        await browser.get(subscribed.json()["checkout"]["checkout_url"])
    pool = await eventually(
        lambda: balance(gateway, owner),
        lambda b: b.get("account_id") == org_id and int(b.get("allocation") or 0) == 10_000_000,
        timeout=30,
        what="organization pool for two pro seats",
    )

    member_email = f"member-{uuid.uuid4().hex[:8]}@example.com"
    invited = await gateway.post(
        f"/api/organizations/{org_id}/invitations",
        json={"email": member_email},
        headers=owner.headers,
    )
    assert invited.status_code == 201, invited.text
    mail = outside.mail  # type: ignore[attr-defined]
    token = await eventually(
        lambda: _token(mail, member_email), lambda t: t is not None, what="invitation mail"
    )
    # The invitation is for member_email; the member registers with that address.
    member_signup = await gateway.post(
        "/api/auth/register", json={"email": member_email, "password": PASSWORD, "name": "Member"}
    )
    assert member_signup.status_code == 201, member_signup.text
    body = member_signup.json()
    member = Person(member_email, body["access_token"], body["refresh_token"], body["user"]["id"])
    accepted = await gateway.post(
        "/api/organizations/invitations/accept", json={"token": token}, headers=member.headers
    )
    assert accepted.status_code == 200, accepted.text
    member = await refreshed(gateway, member)

    capped = await gateway.put(
        f"/api/tokens/caps/{member.user_id}", json={"cap_tokens": 300}, headers=owner.headers
    )
    assert capped.status_code == 200, capped.text

    async def members_account() -> dict[str, object]:
        return await balance(gateway, member)

    await eventually(
        members_account, lambda b: b.get("account_id") == org_id, what="member in pool"
    )
    called = await chat(gateway, member, f"hello [[words:6]] [[acct:{member.user_id}]]", 20)
    assert called.status_code == 200, called.text
    spent = outside.llm.produced[member.user_id].total  # type: ignore[attr-defined]
    await eventually(
        lambda: balance(gateway, owner),
        lambda b: b.get("available") == pool["available"] - spent and b.get("reserved") == 0,
        what="the pool charged for the member's call",
    )

    over = await chat(gateway, member, "an essay please", 1000)
    assert over.status_code == 402, over.text
    assert over.json()["error"]["type"] == "insufficient_quota"


async def _token(mail: object, address: str) -> str | None:
    try:
        return mail.token_sent_to(address, "/invitations/accept")  # type: ignore[attr-defined, no-any-return]
    except AssertionError:
        return None
