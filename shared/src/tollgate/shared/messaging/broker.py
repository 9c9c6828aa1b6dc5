"""The connection to RabbitMQ, the topic exchange, and publishing with confirms."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractRobustConnection,
)
from opentelemetry import propagate

from tollgate.shared.messaging.events import Envelope

__all__ = ["EXCHANGE", "Broker", "current_trace_headers"]

EXCHANGE = "tollgate.events"
log = logging.getLogger("tollgate.broker")


def current_trace_headers() -> dict[str, str]:
    """W3C trace context of the current span, to travel in AMQP headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


class Broker:
    """One robust connection per process; a confirm channel for everything it publishes."""

    def __init__(self, url: str, *, publish_timeout: float = 5.0) -> None:
        self.url = url
        self.publish_timeout = publish_timeout
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def connect(self) -> None:
        self._connection = await aio_pika.connect_robust(self.url)
        self._channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await self._channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )

    @property
    def connection(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise RuntimeError("Broker.connect() has not been awaited")
        return self._connection

    @property
    def is_connected(self) -> bool:
        return (
            self._connection is not None
            and not self._connection.is_closed
            and self._channel is not None
            and not self._channel.is_closed
        )

    async def publish(self, envelope: Envelope, headers: Mapping[str, Any] | None = None) -> None:
        """Publish now, outside any outbox: for tests and tools, not for business events."""
        merged = {**current_trace_headers(), **(headers or {})}
        await self.publish_raw(
            envelope.model_dump_json().encode(), envelope.type, str(envelope.id), merged
        )

    async def publish_raw(
        self,
        body: bytes,
        routing_key: str,
        message_id: str,
        headers: Mapping[str, Any] | None = None,
        *,
        exchange: str = EXCHANGE,
        content_type: str = "application/json",
    ) -> None:
        """Publish and wait for the broker's confirm; raises if it does not come in time."""
        if self._channel is None or self._exchange is None:
            raise RuntimeError("Broker.connect() has not been awaited")
        message = aio_pika.Message(
            body,
            message_id=message_id,
            type=routing_key,
            content_type=content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers=dict(headers or {}),
        )
        target = self._exchange if exchange == EXCHANGE else self._channel.default_exchange
        await asyncio.wait_for(
            target.publish(message, routing_key=routing_key), timeout=self.publish_timeout
        )

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
