"""What a service's lifespan wires up, and tears down, in one place.

``ServiceRuntime.lifespan`` opens the database pool, connects to the broker,
starts the outbox relay and the consumers, and builds the JWT verifier with its
table of verified tokens; it puts
them on ``app.state`` so routes and dependencies find them, and nothing does I/O
at import time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tollgate.shared.db import create_engine, create_sessionmaker, ping
from tollgate.shared.heap import freeze_startup_heap
from tollgate.shared.messaging.broker import Broker
from tollgate.shared.messaging.consumer import Consumer, Subscription
from tollgate.shared.messaging.outbox import MessagingTables
from tollgate.shared.messaging.probe import DeliveryProbe
from tollgate.shared.messaging.relay import OutboxRelay
from tollgate.shared.security import JWKSVerifier, Principal
from tollgate.shared.settings import ServiceSettings
from tollgate.shared.verified_tokens import VerifiedTokens, principals
from tollgate.shared.web import ReadinessCheck

__all__ = ["ServiceRuntime"]


@dataclass
class ServiceRuntime:
    settings: ServiceSettings
    tables: MessagingTables
    subscriptions: Sequence[Subscription] = ()
    use_redis: bool = False
    relay_poll_interval: float = 1.0
    # Event types the relay sends as bundles (``messaging.bundles``).
    relay_bundled: Sequence[str] = ()
    # Queues consumed outside ``subscriptions`` whose dead letters are watched too.
    watched_queues: Sequence[str] = ()
    probe_interval: float = 15.0
    engine: AsyncEngine | None = None
    sessionmaker: async_sessionmaker[AsyncSession] | None = None
    broker: Broker | None = None
    relay: OutboxRelay | None = None
    consumer: Consumer | None = None
    probe: DeliveryProbe | None = None
    verifier: JWKSVerifier | None = None
    verified_tokens: VerifiedTokens[Principal] | None = None
    redis: Redis | None = None
    # Extra start/stop steps of the service (its HTTP clients, sweepers, ...).
    on_start: list[Callable[[FastAPI], Any]] = field(default_factory=list)
    on_stop: list[Callable[[FastAPI], Any]] = field(default_factory=list)

    def readiness(self) -> dict[str, ReadinessCheck]:
        checks: dict[str, ReadinessCheck] = {
            "database": self._check_database,
            "broker": self._check_broker,
        }
        if self.use_redis:
            checks["redis"] = self._check_redis
        return checks

    async def _check_database(self) -> None:
        if self.engine is None:
            raise RuntimeError("not started")
        await ping(self.engine)

    async def _check_broker(self) -> str:
        if self.broker is None or not self.broker.is_connected:
            raise RuntimeError("not connected")
        if self.relay is not None:
            return f"ok, {await self.relay.pending()} event(s) waiting in the outbox"
        return "ok"

    async def _check_redis(self) -> None:
        if self.redis is None:
            raise RuntimeError("not started")
        await self.redis.ping()

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        s = self.settings
        self.engine = create_engine(s.database_url)
        self.sessionmaker = create_sessionmaker(self.engine)
        self.broker = Broker(s.amqp_url)
        await self.broker.connect()
        self.relay = OutboxRelay(
            self.sessionmaker,
            self.tables.outbox,
            self.broker,
            poll_interval=self.relay_poll_interval,
            bundled=self.relay_bundled,
        )
        self.relay.start()
        if self.subscriptions:
            self.consumer = Consumer(
                self.broker, self.sessionmaker, self.tables.inbox, self.subscriptions
            )
            await self.consumer.start()
        queues = [sub.queue for sub in self.subscriptions] + list(self.watched_queues)
        self.probe = DeliveryProbe(self.relay, self.broker, queues, interval=self.probe_interval)
        self.probe.start()
        self.verifier = JWKSVerifier(s.jwks_url, issuer=s.jwt_issuer, audience=s.jwt_audience)
        self.verified_tokens = principals(self.verifier)
        if self.use_redis:
            self.redis = Redis.from_url(s.redis_url)
        app.state.settings = s
        app.state.runtime = self
        app.state.engine = self.engine
        app.state.sessionmaker = self.sessionmaker
        app.state.broker = self.broker
        app.state.jwt_verifier = self.verifier
        app.state.verified_tokens = self.verified_tokens
        app.state.redis = self.redis
        for step in self.on_start:
            result = step(app)
            if hasattr(result, "__await__"):
                await result
        freeze_startup_heap()
        try:
            yield
        finally:
            for step in reversed(self.on_stop):
                result = step(app)
                if hasattr(result, "__await__"):
                    await result
            await self.probe.stop()
            if self.consumer is not None:
                await self.consumer.stop()
            await self.relay.stop()
            await self.broker.close()
            await self.verifier.close()
            if self.redis is not None:
                await self.redis.aclose()
            await self.engine.dispose()
