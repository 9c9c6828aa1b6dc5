"""The session store against the real Redis (the web package's own test database)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tollgate.shared import testing
from tollgate.web.sessions import SessionStore, WebSession

pytestmark = pytest.mark.integration

LOGIN = {"access_token": "a1", "refresh_token": "r1", "expires_in": 900}


@pytest.fixture
async def store() -> AsyncIterator[SessionStore]:
    redis = Redis.from_url(testing.test_redis_url("web"))
    await redis.flushdb()
    yield SessionStore(redis, "web:session:", idle_seconds=60)
    await redis.aclose()


async def test_a_saved_session_is_found_by_its_id_and_expires_when_idle(
    store: SessionStore,
) -> None:
    session = WebSession()
    session.sign_in(LOGIN)
    await store.save(session)

    found = await store.load(session.id)

    assert found is not None and found.access_token == "a1"
    assert 0 < await store.redis.ttl("web:session:" + session.id) <= 60


async def test_signing_in_makes_the_id_from_before_sign_in_worthless(
    store: SessionStore,
) -> None:
    visitor = WebSession()
    await store.save(visitor)
    planted = visitor.id

    visitor.sign_in(LOGIN)
    await store.save(visitor)

    assert await store.load(planted) is None
    assert await store.load(visitor.id) is not None


async def test_a_deleted_session_and_an_unknown_or_absurd_id_find_nothing(
    store: SessionStore,
) -> None:
    session = WebSession()
    await store.save(session)
    await store.delete(session)

    assert await store.load(session.id) is None
    assert await store.load("no-such-session") is None
    assert await store.load("x" * 500) is None
    assert await store.load(None) is None
