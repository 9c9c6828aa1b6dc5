"""Auth in-process against the real PostgreSQL, Redis and RabbitMQ (the ``auth`` test twins)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from auth_helpers import DATABASE_URL, REDIS_URL, SERVICE_DIR, auth_settings
from fastapi import FastAPI
from redis.asyncio import Redis

from tollgate.auth.app import create_app
from tollgate.shared.testing import reset_database


@pytest.fixture(scope="session")
async def app() -> AsyncIterator[FastAPI]:
    await reset_database(DATABASE_URL, SERVICE_DIR)
    application = create_app(auth_settings())
    async with LifespanManager(application, startup_timeout=30):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # Each test starts with no throttling state left behind by another.
    redis = Redis.from_url(REDIS_URL)
    await redis.flushdb()
    await redis.aclose()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://auth.test") as c:
        yield c
