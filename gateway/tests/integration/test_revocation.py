"""Revocations arrive as events and take effect within one second."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiohttp

from tests.integration.conftest import (
    RunningGateway,
    bearer,
    eventually,
    gateway_settings,
    run_gateway,
)
from tests.integration.standins import StandIn
from tollgate.gateway.apikeys import generate_api_key
from tollgate.shared.messaging.events import ApiKeyRevoked, EventData, SessionsRevoked
from tollgate.shared.testing import SigningKey

PROTECTED = "/api/users/profile"
Publish = Callable[[EventData], Awaitable[None]]


async def status_of(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> int:
    async with http.get(url, headers=headers) as response:
        return response.status


async def test_a_revoked_session_is_refused_within_one_second_and_others_still_pass(
    gateway: RunningGateway,
    http: aiohttp.ClientSession,
    signing_key: SigningKey,
    publish: Publish,
) -> None:
    user, session, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    token = signing_key.mint(user, sid=str(session))
    other_token = signing_key.mint(user, sid=str(other))
    url = gateway.url + PROTECTED
    assert await status_of(http, url, bearer(token)) == 200

    await publish(SessionsRevoked(user_id=user, session_id=session, not_before=datetime.now(UTC)))

    async def refused() -> bool:
        return await status_of(http, url, bearer(token)) == 401

    took = await eventually(refused, within=1.0)
    assert took < 1.0
    assert await status_of(http, url, bearer(other_token)) == 200


async def test_revoking_all_sessions_refuses_older_tokens_but_not_later_ones(
    gateway: RunningGateway,
    http: aiohttp.ClientSession,
    signing_key: SigningKey,
    publish: Publish,
) -> None:
    user = uuid.uuid4()
    old = signing_key.mint(user, iat=int(time.time()) - 30)
    url = gateway.url + PROTECTED
    assert await status_of(http, url, bearer(old)) == 200

    await publish(SessionsRevoked(user_id=user, session_id=None, not_before=datetime.now(UTC)))

    async def refused() -> bool:
        return await status_of(http, url, bearer(old)) == 401

    await eventually(refused, within=1.0)
    fresh = signing_key.mint(user, iat=int(time.time()) + 1)
    assert await status_of(http, url, bearer(fresh)) == 200


async def test_a_revoked_api_key_is_refused_within_one_second(
    gateway: RunningGateway,
    http: aiohttp.ClientSession,
    signing_key: SigningKey,
    standin: StandIn,
    publish: Publish,
) -> None:
    key, key_id, user = generate_api_key(), uuid.uuid4(), uuid.uuid4()
    standin.api_keys[key] = {
        "active": True,
        "key_id": str(key_id),
        "user_id": str(user),
        "scopes": ["read"],
        "access_token": signing_key.mint(user, api_key_id=str(key_id), scopes=["read"]),
        "expires_in": 900,
    }
    url = gateway.url + PROTECTED
    assert await status_of(http, url, bearer(key)) == 200

    await publish(ApiKeyRevoked(key_id=key_id, user_id=user))

    async def refused() -> bool:
        return await status_of(http, url, bearer(key)) == 401

    await eventually(refused, within=1.0)
    # Auth now says the key is gone, and the evicted cache asks it again.
    standin.api_keys[key] = {"active": False}
    assert await status_of(http, url, bearer(key)) == 401


async def test_every_replica_refuses_a_revoked_session_whichever_consumed_the_event(
    gateway: RunningGateway,
    http: aiohttp.ClientSession,
    signing_key: SigningKey,
    standin: StandIn,
    jwks_url: str,
    publish: Publish,
) -> None:
    async with run_gateway(gateway_settings(standin.url, jwks_url)) as replica:
        await eventually(lambda: consuming(replica), within=10)
        user, session = uuid.uuid4(), uuid.uuid4()
        token = signing_key.mint(user, sid=str(session))
        urls = [gateway.url + PROTECTED, replica.url + PROTECTED]
        for url in urls:
            assert await status_of(http, url, bearer(token)) == 200

        for _ in range(4):  # several events, so both replicas' consumers get some
            await publish(
                SessionsRevoked(user_id=user, session_id=session, not_before=datetime.now(UTC))
            )

        async def refused_everywhere() -> bool:
            statuses = [await status_of(http, url, bearer(token)) for url in urls]
            return statuses == [401, 401]

        await eventually(refused_everywhere, within=1.0)
        # The refusal comes from Redis, not only from the consuming replica's memory.
        for running in (gateway, replica):
            running.state.denylist._sessions.clear()
        assert await refused_everywhere()


async def consuming(running: RunningGateway) -> bool:
    return running.state.consumer._channel is not None


async def test_an_api_key_survives_a_password_change_that_revokes_the_users_sessions(
    gateway: RunningGateway,
    http: aiohttp.ClientSession,
    signing_key: SigningKey,
    standin: StandIn,
    publish: Publish,
) -> None:
    key, key_id, user = generate_api_key(), uuid.uuid4(), uuid.uuid4()
    answer = {
        "active": True,
        "key_id": str(key_id),
        "user_id": str(user),
        "scopes": ["read"],
        "expires_in": 900,
    }
    standin.api_keys[key] = {
        **answer,
        "access_token": signing_key.mint(
            user, api_key_id=str(key_id), scopes=["read"], iat=int(time.time()) - 60
        ),
    }
    session_token = signing_key.mint(user, iat=int(time.time()) - 60)
    url = gateway.url + PROTECTED
    assert await status_of(http, url, bearer(key)) == 200
    asked = standin.introspections.count(key)

    await publish(SessionsRevoked(user_id=user, session_id=None, not_before=datetime.now(UTC)))

    async def session_refused() -> bool:
        return await status_of(http, url, bearer(session_token)) == 401

    await eventually(session_refused, within=1.0)
    # Auth would mint a fresh token for the key at the next introspection.
    standin.api_keys[key] = {
        **answer,
        "access_token": signing_key.mint(
            user, api_key_id=str(key_id), scopes=["read"], iat=int(time.time()) + 1
        ),
    }
    assert await status_of(http, url, bearer(key)) == 200
    assert standin.introspections.count(key) == asked + 1
