"""One usage service for the whole session, on the real test database and broker.

Each test makes its own users (fresh UUIDs), so tests share the service without
sharing data. Tokens are minted with a test signing key served as a JWKS.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tollgate.shared.messaging import Broker, make_envelope
from tollgate.shared.messaging.events import EventData
from tollgate.shared.testing import (
    SigningKey,
    delete_queues,
    jwks_server,
    reset_database,
    test_amqp_url,
    test_database_url,
)
from tollgate.usage.app import create_app
from tollgate.usage.config import Settings
from tollgate.usage.subscriptions import ACCOUNTS_QUEUE, SUBSCRIPTIONS_QUEUE, USAGE_QUEUE

SERVICE_DIR = Path(__file__).resolve().parents[2]
DATABASE_URL = test_database_url("usage")
AMQP_URL = test_amqp_url("usage")
T = TypeVar("T")


@dataclass
class Usage:
    """The running service and what a test needs to talk to it."""

    app: FastAPI
    http: httpx.AsyncClient
    key: SigningKey
    broker: Broker
    settings: Settings

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        maker: async_sessionmaker[AsyncSession] = self.app.state.sessionmaker
        return maker

    def user_token(self, user_id: uuid.UUID, **claims: Any) -> str:
        return self.key.mint(user_id, **claims)

    def service_headers(self, user_token: str, client: str = "llm-proxy") -> dict[str, str]:
        service = self.key.mint(f"service:{client}", typ="service")
        return {"Authorization": f"Bearer {service}", "X-User-Token": user_token}

    async def reserve(self, user_token: str, **body: Any) -> httpx.Response:
        body.setdefault("request_id", uuid.uuid4().hex)
        body.setdefault("model", "gpt-4o-mini")
        body.setdefault("prompt_tokens", 100)
        return await self.http.post(
            "/internal/reservations", json=body, headers=self.service_headers(user_token)
        )

    async def balance(self, user_token: str) -> dict[str, Any]:
        response = await self.http.get(
            "/api/tokens/balance", headers={"Authorization": f"Bearer {user_token}"}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def publish(self, data: EventData, *, subject: Any = None, source: str = "test") -> Any:
        envelope = make_envelope(source, subject or uuid.uuid4(), data)
        await self.broker.publish(envelope)
        return envelope

    async def db(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.sessionmaker() as session, session.begin():
            return await work(session)


async def eventually(
    check: Callable[[], Awaitable[T]], *, timeout: float = 10.0, interval: float = 0.05
) -> T:
    """Poll until ``check`` returns a truthy value; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {value!r})")
        await asyncio.sleep(interval)


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="session")
async def usage() -> AsyncIterator[Usage]:
    await reset_database(DATABASE_URL, SERVICE_DIR)
    await delete_queues(AMQP_URL, [USAGE_QUEUE, ACCOUNTS_QUEUE, SUBSCRIPTIONS_QUEUE])
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
