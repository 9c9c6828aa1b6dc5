"""Auth in-process against the real PostgreSQL, Redis and RabbitMQ (the ``auth`` test twins)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from aiosmtpd.controller import Controller
from asgi_lifespan import LifespanManager
from auth_helpers import DATABASE_URL, REDIS_URL, SERVICE_DIR, MailSink, auth_settings
from fastapi import FastAPI
from oauth_standin import StandinProvider, standin_provider
from redis.asyncio import Redis

from tollgate.auth.app import create_app
from tollgate.shared.testing import free_port, reset_database


@pytest.fixture(scope="session")
def mail_sink() -> Iterator[MailSink]:
    """A local SMTP server standing in for the mail relay; it keeps every message."""
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    sink.port = controller.port
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture(scope="session")
async def oauth_provider() -> AsyncIterator[StandinProvider]:
    async with standin_provider() as provider:
        yield provider


@pytest.fixture(scope="session")
async def app(mail_sink: MailSink, oauth_provider: StandinProvider) -> AsyncIterator[FastAPI]:
    await reset_database(DATABASE_URL, SERVICE_DIR)
    application = create_app(auth_settings(smtp_port=mail_sink.port, **oauth_provider.settings()))
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
