"""Journey 4: a sub-user spends from the parent's pool, within the cap the parent set."""

from __future__ import annotations

import uuid

import httpx
from journeys import PASSWORD, balance, eventually, funded, login, register


async def chat(
    gateway: httpx.AsyncClient, token: str, prompt: str, max_tokens: int
) -> httpx.Response:
    return await gateway.post(
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
        },
    )


async def test_a_sub_user_spends_from_the_parent_within_its_cap(
    gateway: httpx.AsyncClient, outside: object
) -> None:
    parent = await register(gateway, "Parent")
    start = await funded(gateway, parent)
    child_email = f"child-{uuid.uuid4().hex[:8]}@example.com"
    created = await gateway.post(
        "/api/sub-users",
        json={"email": child_email, "password": PASSWORD, "name": "Child", "token_limit": 400},
        headers=parent.headers,
    )
    assert created.status_code == 201, created.text
    child = await login(gateway, child_email)

    first = await chat(gateway, child.access_token, f"hi [[words:10]] [[acct:{child.user_id}]]", 50)
    assert first.status_code == 200, first.text
    spent = outside.llm.produced[child.user_id].total  # type: ignore[attr-defined]

    parent_after = await eventually(
        lambda: balance(gateway, parent),
        lambda b: b.get("available") == start["available"] - spent and b.get("reserved") == 0,
        what="parent charged for the child's call",
    )
    assert parent_after["used_this_period"] == spent

    # The child's cap (400) has less room than this call could spend: refused, parent untouched.
    over = await chat(gateway, child.access_token, "write a long essay", 1000)
    assert over.status_code == 402, over.text
    assert over.json()["error"]["type"] == "insufficient_quota"
    assert (await balance(gateway, parent))["available"] == parent_after["available"]

    # The parent is not bound by the child's cap.
    own = await chat(gateway, parent.access_token, "hi [[words:3]]", 1000)
    assert own.status_code == 200, own.text
