"""Journey 2: a free user runs out, pays for pro through Checkout, and goes on at once.

No new sign-in: the allocation (usage) and the rate limits (gateway) follow
billing's ``subscription.changed``.
"""

from __future__ import annotations

import httpx
import pytest
from devstack import Stack
from journeys import balance, eventually, funded, register
from openai import APIStatusError, AsyncOpenAI


def llm_limit(response: httpx.Response) -> int:
    """The request quota the gateway announces for LLM calls (RateLimit-Policy: "…";q=N;w=60)."""
    policy = response.headers["ratelimit-policy"]
    return int(policy.split("q=")[1].split(";")[0])


async def chat(gateway: httpx.AsyncClient, token: str, prompt: str) -> httpx.Response:
    return await gateway.post(
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": 16,
        },
    )


async def test_a_free_user_out_of_tokens_upgrades_to_pro_and_continues(
    stack: Stack, gateway: httpx.AsyncClient, outside: object
) -> None:
    person = await register(gateway, "Grace")
    start = await funded(gateway, person)
    assert start["plan"] == "free"

    # One call whose upstream reports more prompt tokens than the whole allocation.
    first = await chat(gateway, person.access_token, "[[prompt:150000]] [[words:3]]")
    assert first.status_code == 200, first.text
    free_llm_limit = llm_limit(first)
    await eventually(
        lambda: balance(gateway, person),
        lambda b: b.get("available") == 0 and b.get("reserved") == 0,
        what="allocation spent",
    )

    refused = await chat(gateway, person.access_token, "one more please")
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["type"] == "insufficient_quota"

    calls_before = outside.llm.calls  # type: ignore[attr-defined]
    client = AsyncOpenAI(base_url=f"{stack.url('gateway')}/v1", api_key=person.access_token)
    with pytest.raises(APIStatusError) as sdk_refusal:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=5
        )
    await client.close()
    assert sdk_refusal.value.status_code == 402
    assert outside.llm.calls == calls_before  # type: ignore[attr-defined]  # refused before upstream

    subscribed = await gateway.post(
        "/api/subscriptions/subscribe", json={"plan": "pro"}, headers=person.headers
    )
    assert subscribed.status_code in (200, 201), subscribed.text
    checkout_url = subscribed.json()["checkout"]["checkout_url"]
    async with httpx.AsyncClient() as browser:
        paid = await browser.get(checkout_url)  # the stand-in's page pays and redirects
    assert paid.status_code == 302  # paid, and sent on to the success URL

    upgraded = await eventually(
        lambda: balance(gateway, person),
        lambda b: b.get("plan") == "pro" and int(b.get("available") or 0) > 0,
        timeout=30,
        what="pro allocation",
    )
    assert upgraded["allocation"] == 5_000_000

    after = await chat(gateway, person.access_token, "back in business [[words:4]]")
    assert after.status_code == 200, after.text
    assert llm_limit(after) > free_llm_limit

    current = await gateway.get("/api/subscriptions/current", headers=person.headers)
    assert current.status_code == 200
    assert current.json()["plan"] == "pro"
