"""A gateway in-process on loopback, with real Redis and RabbitMQ and a stand-in service."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis

from tests.integration import standins
from tollgate.gateway.app import GATEWAY, Gateway, create_app
from tollgate.gateway.config import Settings
from tollgate.gateway.events import EVENT_TYPES, queue_name
from tollgate.shared.messaging import Broker, make_envelope
from tollgate.shared.messaging.events import EventData
from tollgate.shared.testing import (
    SigningKey,
    delete_queues,
    free_port,
    jwks_server,
    test_amqp_url,
    test_redis_url,
)

REDIS_URL = test_redis_url("gateway")
AMQP_URL = test_amqp_url("gateway")


@dataclass
class RunningGateway:
    url: str
    app: web.Application

    @property
    def state(self) -> Gateway:
        return self.app[GATEWAY]


def gateway_settings(standin_url: str, jwks_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "redis_url": REDIS_URL,
        "amqp_url": AMQP_URL,
        "jwks_url": jwks_url,
        "auth_internal_url": standin_url,
        "auth_url": standin_url,
        "billing_url": standin_url,
        "usage_url": standin_url,
        "llm_proxy_url": standin_url,
        "web_url": standin_url,
        "client_secret": "test-secret",
        "connect_timeout": 0.5,
        "read_timeout": 1.0,
        "llm_read_timeout": 1.0,
        "max_body_bytes": 64 * 1024,
        "cors_origins": ["https://app.example"],
        "auth_requests_per_minute_per_ip": 5,
        "redis_retry_seconds": 0.2,
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def run_gateway(settings: Settings) -> AsyncIterator[RunningGateway]:
    app = create_app(settings)
    runner = web.AppRunner(app, handler_cancellation=True, max_field_size=16384)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield RunningGateway(f"http://127.0.0.1:{port}", app)
    finally:
        await runner.cleanup()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 1.0) -> float:
    """Poll ``check`` until it holds; returns the seconds it took, fails after ``within``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        if await check():
            return loop.time() - start
        if loop.time() - start > within:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.02)


async def patiently(connect: Callable[[], Awaitable[None]], within: float = 30.0) -> None:
    """Other suites on this machine stop RabbitMQ for their failure drills: wait it out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            await connect()
            return
        except ConnectionError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.5)


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return SigningKey()


@pytest.fixture(scope="session")
async def jwks_url(signing_key: SigningKey) -> AsyncIterator[str]:
    async with jwks_server(signing_key) as (url, _keys):
        yield url


@pytest.fixture(scope="session")
async def standin() -> AsyncIterator[standins.StandIn]:
    standin = standins.StandIn()
    runner = await standins.start(standin)
    yield standin
    await runner.cleanup()


@pytest.fixture(scope="session")
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
async def gateway(
    standin: standins.StandIn, jwks_url: str, redis: Redis
) -> AsyncIterator[RunningGateway]:
    await patiently(lambda: delete_queues(AMQP_URL, [queue_name(t) for t in EVENT_TYPES]))
    async with run_gateway(gateway_settings(standin.url, jwks_url)) as running:
        await eventually(lambda: _consuming(running), within=30)
        yield running


async def _consuming(running: RunningGateway) -> bool:
    return running.state.consumer._channel is not None


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="session")
async def broker() -> AsyncIterator[Broker]:
    broker = Broker(AMQP_URL)
    await patiently(broker.connect)
    yield broker
    await broker.close()


@pytest.fixture
def publish(broker: Broker) -> Callable[[EventData], Awaitable[None]]:
    async def send(data: EventData) -> None:
        await broker.publish(make_envelope("test", str(uuid.uuid4()), data))

    return send


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
