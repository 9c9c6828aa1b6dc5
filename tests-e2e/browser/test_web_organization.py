"""An owner invites a member by mail; the member joins through the mailed link (making
an account on the way), the owner caps their spending and sees what they spent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from conftest import eventually
from openai import AsyncOpenAI
from test_web_accounts import PASSWORD, new_email, sign_up


async def signed_in(gateway: httpx.AsyncClient, email: str) -> dict[str, Any]:
    """The person's own tokens and user, for what the pages do not do (an org's checkout)."""
    response = await gateway.post(
        "/api/auth/login-json", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "never came true"
        await asyncio.sleep(0.2)


async def pool_for(gateway: httpx.AsyncClient, owner_email: str, org_id: str) -> None:
    """The organization subscribes (Stripe's stand-in checkout) so its members share a pool."""
    token = (await signed_in(gateway, owner_email))["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    subscribed = await gateway.post(
        "/api/subscriptions/subscribe",
        json={"plan": "pro", "org_id": org_id, "seats": 2},
        headers=headers,
    )
    assert subscribed.status_code in (200, 201), subscribed.text
    async with httpx.AsyncClient() as stripe_page:
        await stripe_page.get(subscribed.json()["checkout"]["checkout_url"])

    async def pooled() -> bool:
        balance = await gateway.get("/api/tokens/balance", headers=headers)
        return balance.status_code == 200 and balance.json()["account_id"] == org_id

    await until(pooled)


async def test_an_invited_person_joins_by_the_mailed_link_and_the_owner_caps_them(
    visit: Any, outside: Any, stack: Any
) -> None:
    gateway = httpx.AsyncClient(base_url=stack.url("gateway"), timeout=30)
    owner = await visit(name="owner")
    owner_email = new_email()
    await sign_up(owner, owner_email)
    await owner.click_link("Organization")
    await owner.look("no organization")
    await owner.fill("Organization name", "Acme")
    await owner.submit("Create organization")
    assert "Acme is created" in await owner.text()
    owner_token = (await signed_in(gateway, owner_email))["access_token"]
    organizations = await gateway.get(
        "/api/organizations", headers={"Authorization": f"Bearer {owner_token}"}
    )
    org_id = organizations.json()[0]["id"]
    await pool_for(gateway, owner_email, org_id)

    member_email = new_email()
    await owner.fill("Email", member_email)
    await owner.submit("Send invitation")
    assert f"An invitation is on its way to {member_email}" in await owner.text()
    assert member_email in await owner.page.locator("ul.plain").inner_text()
    await owner.look("invitation sent")

    token = await eventually(
        lambda: outside.mail.token_sent_to(member_email, "/invitations/accept")
    )
    member = await visit(name="member", phone=True)
    await member.open(f"/invitations/accept?token={token}")
    assert "/sign-in?next=" in member.page.url
    await member.click_link("Create an account")
    await member.fill("Email", member_email)
    await member.fill("Password", "a long enough passphrase 1")
    await member.submit("Create account")
    assert member.page.url.endswith(f"/invitations/accept?token={token}")
    await member.look("join organization")
    await member.submit("Join the organization")
    assert "You joined Acme." in await member.text()
    await member.look("member of acme")

    await owner.click_link("Organization")
    members = owner.page.locator("#members")
    assert member_email in await members.inner_text()
    await owner.page.get_by_label(f"Cap for {member_email}").fill("300")
    await owner.submit("Set cap")
    assert "The member may now spend 300 tokens a period." in await owner.text()
    assert await owner.page.get_by_label(f"Cap for {member_email}").input_value() == "300"
    await owner.look("member capped")

    # The member calls the API; the owner sees what they spent from the pool, on the
    # organization page and on the member's own usage page.
    tokens = await signed_in(gateway, member_email)
    member_token, member_id = tokens["access_token"], tokens["user"]["id"]
    llm = AsyncOpenAI(base_url=stack.url("gateway") + "/v1", api_key=member_token)
    answer = await llm.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": f"hello [[words:6]] [[acct:{member_id}]]"}],
        max_tokens=20,
    )
    assert answer.usage is not None
    spent = answer.usage.total_tokens

    async def organization_page_shows_the_call() -> bool:
        await owner.click_link("Organization")
        row = owner.page.locator("#members tr", has_text=member_email)
        return f"{spent:,}" in await row.inner_text()

    await until(organization_page_shows_the_call)
    await owner.look("member usage on the organization page")
    await owner.page.get_by_role("link", name=f"Usage of {member_email}").click()
    assert await owner.page.locator("h1").inner_text() == f"Usage of {member_email}"
    models = await owner.page.locator("#member-models tbody").inner_text()
    assert "gpt-4o-mini" in models and f"{spent:,}" in models
    await owner.look("member usage")

    # The member, no manager, is refused the owner's view of anyone.
    await member.open(f"/usage/members/{member_id}")
    assert member.last is not None and member.last.status == 404

    # The link worked once.
    again = await visit(name="again")
    await sign_up(again, new_email())
    await again.open(f"/invitations/accept?token={token}")
    await again.submit("Join the organization")
    assert "This link no longer works" in await again.text()
    await gateway.aclose()
