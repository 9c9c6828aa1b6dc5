"""Journey 1: a new user signs up, verifies, signs in from VS Code and makes a streamed call.

The balance drops by exactly the tokens the upstream reported, and the stats show it.
"""

from __future__ import annotations

import httpx
from devstack import Stack
from journeys import PASSWORD, balance, eventually, funded, login, register
from openai import AsyncOpenAI


async def test_a_new_user_is_billed_exactly_what_the_upstream_reported(
    stack: Stack, gateway: httpx.AsyncClient, outside: object
) -> None:
    person = await register(gateway, "Ada")

    asked = await gateway.post("/api/auth/verify-email/request", headers=person.headers)
    assert asked.status_code in (200, 202, 204), asked.text
    mail = outside.mail  # type: ignore[attr-defined]
    token = await eventually(
        lambda: _token(mail, person.email), lambda t: t is not None, what="verification mail"
    )
    confirmed = await gateway.post("/api/auth/verify-email/confirm", json={"token": token})
    assert confirmed.status_code in (200, 204), confirmed.text

    signed_in = await gateway.post(
        "/api/auth/login-json", json={"email": person.email, "password": PASSWORD}
    )
    assert signed_in.status_code == 200
    body = signed_in.json()
    assert body["token_type"] == "bearer"
    assert body["user"]["subscription_tier"] == "free"
    person = await login(gateway, person.email)

    config = await gateway.get("/api/auth/vscode-config", headers=person.headers)
    assert config.status_code == 200, config.text
    openai_base = config.json()["openai_base_url"]
    assert openai_base.endswith("/v1")

    before = await funded(gateway, person)
    assert before["available"] == before["allocation"] > 0

    client = AsyncOpenAI(base_url=f"{stack.url('gateway')}/v1", api_key=person.access_token)
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": f"Say hello [[words:12]] [[acct:{person.user_id}]]"}],
        max_tokens=64,
        stream=True,
        stream_options={"include_usage": True},
    )
    text = ""
    reported_usage = None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage is not None:
            reported_usage = chunk.usage
    await client.close()
    assert len(text.split()) == 12

    produced = outside.llm.produced[person.user_id]  # type: ignore[attr-defined]
    assert produced.completion_tokens == 12
    assert reported_usage is not None
    assert reported_usage.total_tokens == produced.total

    after = await eventually(
        lambda: balance(gateway, person),
        lambda b: b.get("used_this_period") == produced.total and b.get("reserved") == 0,
        what="settled call",
    )
    assert after["available"] == before["available"] - produced.total

    stats = await gateway.get(
        "/api/usage/stats", params={"group_by": "model"}, headers=person.headers
    )
    assert stats.status_code == 200, stats.text
    by_model = {item["key"]: item for item in stats.json()["items"]}
    assert by_model["gpt-4o-mini"]["requests"] == 1
    assert by_model["gpt-4o-mini"]["total_tokens"] == produced.total


async def _token(mail: object, address: str) -> str | None:
    try:
        return mail.token_sent_to(address, "/verify-email")  # type: ignore[attr-defined, no-any-return]
    except AssertionError:
        return None
