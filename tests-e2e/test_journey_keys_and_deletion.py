"""Journeys 3 and 5: an API key works in the SDK until it is revoked; a deleted account
is gone from every service and its tokens stop working."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from devstack import Stack
from journeys import PASSWORD, eventually, funded, register
from openai import APIStatusError, AsyncOpenAI, AuthenticationError


async def test_an_api_key_works_in_the_sdk_and_is_refused_within_a_second_of_revocation(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    person = await register(gateway, "Linus")
    await funded(gateway, person)
    created = await gateway.post("/api/api-keys", json={"name": "laptop"}, headers=person.headers)
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert key.startswith("tg_")

    client = AsyncOpenAI(base_url=f"{stack.url('gateway')}/v1", api_key=key)
    completion = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi [[words:2]]"}], max_tokens=8
    )
    assert completion.usage is not None and completion.usage.completion_tokens == 2

    listed = await gateway.get("/api/api-keys", headers=person.headers)
    assert key not in listed.text  # shown once, never again

    revoked = await gateway.delete(f"/api/api-keys/{created.json()['id']}", headers=person.headers)
    assert revoked.status_code in (200, 204)
    revoked_at = time.monotonic()
    while True:
        try:
            await client.models.list()
        except AuthenticationError:
            break
        assert time.monotonic() - revoked_at < 1.0, "revoked key still accepted after 1 s"
        await asyncio.sleep(0.05)
    await client.close()


async def test_a_key_with_a_bad_checksum_is_refused_in_the_openai_error_shape(
    gateway: httpx.AsyncClient,
) -> None:
    response = await gateway.get(
        "/v1/models", headers={"Authorization": "Bearer tg_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAzzzzzz"}
    )
    assert response.status_code == 401
    assert "error" in response.json()


async def test_a_deleted_account_is_gone_everywhere_and_its_tokens_stop_working(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    person = await register(gateway, "Mary")
    await funded(gateway, person)
    called = await gateway.post(
        "/v1/chat/completions",
        headers=person.headers,
        json={
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "x [[words:2]]"}],
            "max_tokens": 4,
        },
    )
    assert called.status_code == 200, called.text

    deleted = await gateway.request(
        "DELETE", "/api/users/account", json={"password": PASSWORD}, headers=person.headers
    )
    assert deleted.status_code in (200, 202, 204), deleted.text

    async def me() -> int:
        return (await gateway.get("/api/auth/me", headers=person.headers)).status_code

    await eventually(me, lambda status: status == 401, timeout=2, what="token refused")
    signed_in = await gateway.post(
        "/api/auth/login-json", json={"email": person.email, "password": PASSWORD}
    )
    assert signed_in.status_code == 401

    refreshed = await gateway.post(
        "/api/auth/refresh", json={"refresh_token": person.refresh_token}
    )
    assert refreshed.status_code in (400, 401)

    client = AsyncOpenAI(base_url=f"{stack.url('gateway')}/v1", api_key=person.access_token)
    with pytest.raises(APIStatusError) as refusal:
        await client.models.list()
    await client.close()
    assert refusal.value.status_code == 401
