"""Consumer: applies each event exactly once, retries failures, parks poison messages.

For every queue ``Q`` it declares:

    Q            durable, bound to the topic exchange by the subscription's routing keys
    Q.retry.N    one per retry delay: no consumers, a queue TTL, dead-lettered back into Q
    Q.dlq        where a message lands after its last attempt; see ``dead_letters``

A message is acknowledged only after the handler's transaction has committed (or
after it has been safely moved to a retry queue or the DLQ). The event id is
recorded in the ``inbox`` table in the same transaction as the handler's effects,
so a redelivery after a crash between commit and ack has no second effect.

A bundle (``bundles``: many events in one message) is first split into single
messages put back on ``Q``, so each of its events is applied, retried and parked
on its own; a consumer that applies events in batches reads bundles whole instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from opentelemetry import propagate, trace
from pydantic import ValidationError
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tollgate.shared.messaging.broker import EXCHANGE, Broker
from tollgate.shared.messaging.bundles import events_in, is_bundle
from tollgate.shared.messaging.events import Envelope
from tollgate.shared.messaging.metrics import EVENTS_CONSUMED

__all__ = ["Consumer", "Handler", "Subscription"]

log = logging.getLogger("tollgate.consumer")
tracer = trace.get_tracer("tollgate.messaging")

Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]

ATTEMPT_HEADER = "x-tollgate-attempt"
ERROR_HEADER = "x-tollgate-error"


@dataclass
class Subscription:
    """A durable queue, the event types it receives, and the handler that applies them."""

    queue: str
    routing_keys: Sequence[str]
    handler: Handler
    retry_delays: Sequence[float] = field(default_factory=lambda: (1.0, 5.0, 30.0))


class Consumer:
    def __init__(
        self,
        broker: Broker,
        sessionmaker: async_sessionmaker[AsyncSession],
        inbox: Table,
        subscriptions: Sequence[Subscription],
        *,
        prefetch: int = 32,
    ) -> None:
        self.broker = broker
        self.sessionmaker = sessionmaker
        self.inbox = inbox
        self.subscriptions = list(subscriptions)
        self.prefetch = prefetch
        self._channel: AbstractChannel | None = None

    async def start(self) -> None:
        channel = await self.broker.connection.channel()
        await channel.set_qos(prefetch_count=self.prefetch)
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        for sub in self.subscriptions:
            queue = await declare_queues(channel, sub)
            for key in sub.routing_keys:
                await queue.bind(exchange, routing_key=key)
            await queue.consume(self._callback(sub))
        self._channel = channel

    async def stop(self) -> None:
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()
        self._channel = None

    def _callback(self, sub: Subscription) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
        async def on_message(message: AbstractIncomingMessage) -> None:
            await self.handle(sub, message)

        return on_message

    async def handle(self, sub: Subscription, message: AbstractIncomingMessage) -> None:
        headers: dict[str, Any] = dict(message.headers or {})
        if is_bundle(message):
            await self._split(sub, message, headers)
            return
        context = propagate.extract({k: str(v) for k, v in headers.items()})
        with tracer.start_as_current_span(
            f"{sub.queue} process", context=context, kind=trace.SpanKind.CONSUMER
        ) as span:
            try:
                envelope = Envelope.model_validate_json(message.body)
            except ValidationError as exc:
                # Retrying cannot fix a message that does not parse: park it at once.
                await self._park(sub, message, headers, f"unparseable: {exc.errors()[:1]}")
                return
            span.set_attribute("messaging.message.id", str(envelope.id))
            span.set_attribute("messaging.destination.name", envelope.type)
            try:
                applied = await self._apply(sub, envelope)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._retry_or_park(sub, message, headers, exc)
                return
            await message.ack()
            EVENTS_CONSUMED.labels(sub.queue, "applied" if applied else "duplicate").inc()

    async def _apply(self, sub: Subscription, envelope: Envelope) -> bool:
        """Run the handler once per event id; False when the event was applied before."""
        async with self.sessionmaker() as session, session.begin():
            first_time = await session.scalar(
                insert(self.inbox)
                .values(consumer=sub.queue, message_id=str(envelope.id))
                .on_conflict_do_nothing()
                .returning(self.inbox.c.message_id)
            )
            if first_time is None:
                log.info("duplicate %s %s skipped", envelope.type, envelope.id)
                return False
            await sub.handler(session, envelope)
            return True

    async def _split(
        self, sub: Subscription, message: AbstractIncomingMessage, headers: dict[str, Any]
    ) -> None:
        """Put a bundle's events back on the queue one message each, then ack the bundle.

        Dying in between puts some of them there twice; their ids make that harmless.
        """
        try:
            events = events_in(message)
        except ValidationError as exc:
            await self._park(sub, message, headers, f"unparseable bundle: {exc.errors()[:1]}")
            return
        try:
            await asyncio.gather(
                *(
                    self.broker.publish_raw(
                        e.event.model_dump_json().encode(),
                        sub.queue,
                        str(e.event.id),
                        e.headers,
                        exchange="",
                    )
                    for e in events
                )
            )
        except Exception:
            log.exception(
                "could not split a bundle of %d on %s; requeueing", len(events), sub.queue
            )
            await message.nack(requeue=True)
            return
        await message.ack()
        EVENTS_CONSUMED.labels(sub.queue, "split").inc()

    async def _retry_or_park(
        self,
        sub: Subscription,
        message: AbstractIncomingMessage,
        headers: dict[str, Any],
        exc: Exception,
    ) -> None:
        attempt = int(headers.get(ATTEMPT_HEADER, 0)) + 1
        error = f"{type(exc).__name__}: {exc}"[:500]
        if attempt > len(sub.retry_delays):
            log.error("%s: giving up after %d attempts: %s", sub.queue, attempt, error)
            await self._park(sub, message, headers, error, attempt)
            return
        log.warning("%s: attempt %d failed, retrying: %s", sub.queue, attempt, error)
        headers.update({ATTEMPT_HEADER: attempt, ERROR_HEADER: error})
        await self._move(message, f"{sub.queue}.retry.{attempt}", headers)
        EVENTS_CONSUMED.labels(sub.queue, "retried").inc()

    async def _park(
        self,
        sub: Subscription,
        message: AbstractIncomingMessage,
        headers: dict[str, Any],
        error: str,
        attempt: int | None = None,
    ) -> None:
        headers[ERROR_HEADER] = error
        if attempt is not None:
            headers[ATTEMPT_HEADER] = attempt
        await self._move(message, f"{sub.queue}.dlq", headers)
        EVENTS_CONSUMED.labels(sub.queue, "dead_lettered").inc()

    async def _move(
        self, message: AbstractIncomingMessage, queue: str, headers: dict[str, Any]
    ) -> None:
        """Republish to another queue with confirms, then ack; if that fails, requeue."""
        try:
            await self.broker.publish_raw(
                message.body,
                queue,
                message.message_id or "",
                headers,
                exchange="",
            )
        except Exception:
            log.exception("could not move message to %s; requeueing", queue)
            await message.nack(requeue=True)
            return
        await message.ack()


async def declare_queues(channel: AbstractChannel, sub: Subscription) -> Any:
    queue = await channel.declare_queue(sub.queue, durable=True)
    for attempt, delay in enumerate(sub.retry_delays, start=1):
        await channel.declare_queue(
            f"{sub.queue}.retry.{attempt}",
            durable=True,
            arguments={
                "x-message-ttl": int(delay * 1000),
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": sub.queue,
            },
        )
    await channel.declare_queue(f"{sub.queue}.dlq", durable=True)
    return queue
