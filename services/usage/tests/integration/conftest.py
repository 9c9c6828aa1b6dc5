"""One usage service for the whole session, on the real test database and broker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from usage_harness import AMQP_URL, DATABASE_URL, SERVICE_DIR, Usage

from tollgate.shared.messaging import Broker
from tollgate.shared.testing import SigningKey, delete_queues, jwks_server, reset_database
from tollgate.usage.app import create_app
from tollgate.usage.config import Settings
from tollgate.usage.subscriptions import ACCOUNTS_QUEUE, SUBSCRIPTIONS_QUEUE, USAGE_QUEUE
from tollgate.usage.topups.service import QUEUE as TOP_UPS_QUEUE


@pytest.fixture(scope="session")
async def usage() -> AsyncIterator[Usage]:
    await reset_database(DATABASE_URL, SERVICE_DIR)
    await delete_queues(AMQP_URL, [USAGE_QUEUE, ACCOUNTS_QUEUE, SUBSCRIPTIONS_QUEUE, TOP_UPS_QUEUE])
    key = SigningKey()
    async with jwks_server(key) as (jwks_url, _keys):
        settings = Settings(
            env="test",
            database_url=DATABASE_URL,
            amqp_url=AMQP_URL,
            jwks_url=jwks_url,
            sweep_interval_seconds=0.2,
        )
        app = create_app(settings)
        async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://usage") as http:
                broker = Broker(AMQP_URL)
                await broker.connect()
                try:
                    yield Usage(app, http, key, broker, settings)
                finally:
                    await broker.close()
