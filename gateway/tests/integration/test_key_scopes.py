"""API keys reach only what their scopes allow, on every route family, and a change
of scopes at auth reaches every replica by event within a second."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import aiohttp
from redis.asyncio import Redis

from tests.integration.conftest import (
    RunningGateway,
    bearer,
    eventually,
    gateway_settings,
    run_gateway,
)
from tests.integration.standins import StandIn
from tollgate.gateway import redis_keys
from tollgate.gateway.apikeys import generate_api_key
from tollgate.shared.messaging.events import ApiKeyScopesChanged, EventData
from tollgate.shared.testing import SigningKey

Publish = Callable[[EventData], Awaitable[None]]
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
# What a leaked key must never do: spend money, or change the account.
MONEY_AND_ACCOUNT = [
    ("PUT", "/api/subscriptions/upgrade", {"plan": "enterprise"}),
    ("POST", "/api/subscriptions/subscribe", {"plan": "pro"}),
    ("POST", "/api/subscriptions/cancel", {}),
    ("POST", "/api/billing/portal", {}),
    ("POST", "/api/api-keys", {"name": "another"}),
    ("DELETE", f"/api/organizations/{uuid.uuid4()}", None),
    ("GET", "/api/admin/users", None),
    ("POST", "/api/admin/grants", {"amount": 1}),
]


def key_with(
    standin: StandIn, signing_key: SigningKey, scopes: list[str], plan: str = "pro"
) -> tuple[str, uuid.UUID, uuid.UUID]:
    key, key_id, user = generate_api_key(), uuid.uuid4(), uuid.uuid4()
    standin.api_keys[key] = {
        "active": True,
        "key_id": str(key_id),
        "user_id": str(user),
        "scopes": scopes,
        "access_token": signing_key.mint(user, plan=plan, api_key_id=str(key_id), scopes=scopes),
        "expires_in": 900,
    }
    return key, key_id, user


async def status_of(
    http: aiohttp.ClientSession, url: str, key: str, method: str = "GET", body: object = None
) -> int:
    async with http.request(method, url, headers=bearer(key), json=body) as response:
        return response.status


async def test_an_llm_key_makes_llm_calls_and_nothing_else(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey, standin: StandIn
) -> None:
    key, _, _ = key_with(standin, signing_key, ["llm"])
    assert await status_of(http, gateway.url + "/v1/chat/completions", key, "POST", CHAT) == 200
    before = len(standin.seen)
    refused = [
        *MONEY_AND_ACCOUNT,
        ("GET", "/api/tokens/balance", None),
        ("GET", "/api/billing/invoices", None),
        ("POST", "/api/vscode/usage/track", {"events": []}),
    ]
    for method, path, body in refused:
        async with http.request(
            method, gateway.url + path, headers=bearer(key), json=body
        ) as response:
            assert response.status == 403, (method, path, response.status)
            problem = await response.json()
            assert problem["type"].rsplit("/", 1)[1] in ("insufficient-scope", "interactive-only")
    assert len(standin.seen) == before, "a refused call reached a service"


async def test_read_keys_and_keys_without_scopes_make_no_llm_call_and_spend_nothing(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey, standin: StandIn
) -> None:
    for scopes in (["read"], []):
        key, _, _ = key_with(standin, signing_key, scopes)
        chat = await status_of(http, gateway.url + "/v1/chat/completions", key, "POST", CHAT)
        assert chat == 403, scopes
        assert await status_of(http, gateway.url + "/api/llm/models", key) == 403, scopes
        for method, path, body in MONEY_AND_ACCOUNT:
            assert await status_of(http, gateway.url + path, key, method, body) == 403, path
    reader, _, _ = key_with(standin, signing_key, ["read"])
    assert await status_of(http, gateway.url + "/api/tokens/balance", reader) == 200


async def test_an_llm_call_refused_for_its_scope_is_in_the_openai_shape(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey, standin: StandIn
) -> None:
    key, _, _ = key_with(standin, signing_key, ["read"])
    async with http.post(
        gateway.url + "/v1/chat/completions", headers=bearer(key), json=CHAT
    ) as response:
        assert response.status == 403
        error = (await response.json())["error"]
        assert error["type"] == "permission_error" and "llm scope" in error["message"]


async def test_a_key_re_scoped_at_auth_is_held_to_its_new_scopes_on_every_replica_within_a_second(
    gateway: RunningGateway,
    http: aiohttp.ClientSession,
    signing_key: SigningKey,
    standin: StandIn,
    jwks_url: str,
    publish: Publish,
) -> None:
    key, key_id, user = key_with(standin, signing_key, ["llm", "read"])
    balance = "/api/tokens/balance"
    async with run_gateway(gateway_settings(standin.url, jwks_url)) as other:
        for replica in (gateway, other):
            assert await status_of(http, replica.url + balance, key) == 200  # cached now

        # Auth has the new scopes and says so by event.
        standin.api_keys[key] = {
            **standin.api_keys[key],
            "scopes": ["llm"],
            "access_token": signing_key.mint(user, api_key_id=str(key_id), scopes=["llm"]),
        }
        await publish(
            ApiKeyScopesChanged(
                key_id=key_id, user_id=user, scopes=["llm"], changed_at=datetime.now(UTC)
            )
        )
        for replica in (gateway, other):

            async def refused(url: str = replica.url + balance) -> bool:
                return await status_of(http, url, key) == 403

            await eventually(refused, within=1.0)
            # The key still works for what it keeps, with a token of its new scopes.
            assert await status_of(http, replica.url + "/v1/models", key) == 200


async def test_an_older_scope_change_delivered_late_does_not_undo_a_newer_one(
    gateway: RunningGateway,
    http: aiohttp.ClientSession,
    signing_key: SigningKey,
    standin: StandIn,
    publish: Publish,
    redis: Redis,
) -> None:
    key, key_id, user = key_with(standin, signing_key, ["read"])
    newer = datetime.now(UTC)
    older = newer - timedelta(seconds=5)
    await publish(
        ApiKeyScopesChanged(key_id=key_id, user_id=user, scopes=["read"], changed_at=newer)
    )

    async def stored() -> bool:
        return await redis.hget(redis_keys.api_key_scopes(str(key_id)), "scopes") == b"read"

    await eventually(stored, within=1.0)
    await publish(
        ApiKeyScopesChanged(key_id=key_id, user_id=user, scopes=["llm", "read"], changed_at=older)
    )
    await asyncio.sleep(0.3)
    assert await stored()
    assert await status_of(http, gateway.url + "/api/tokens/balance", key) == 200
    assert await status_of(http, gateway.url + "/v1/models", key) == 403
