"""Failing messages are retried, then parked where an operator can replay them."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tollgate.shared.messaging import Broker, Consumer, Envelope, Subscription, make_envelope
from tollgate.shared.messaging.dead_letters import list_dead_letters, replay_dead_letters
from tollgate.shared.messaging.events import UserDeleted
from tollgate.shared.testing import delete_queues

from .conftest import AMQP_URL, tables
from .test_outbox import eventually

pytestmark = pytest.mark.integration


async def test_a_message_that_always_fails_lands_in_the_dlq_and_can_be_replayed(
    sessionmaker: async_sessionmaker[AsyncSession], broker: Broker, queue_name: str
) -> None:
    attempts: list[str] = []
    healthy = False

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        attempts.append(str(envelope.id))
        if not healthy:
            raise ValueError("downstream rejected it")

    sub = Subscription(queue_name, ["user.deleted"], handler, retry_delays=(0.1, 0.2))
    consumer = Consumer(broker, sessionmaker, tables.inbox, [sub])
    await consumer.start()
    envelope = make_envelope("test", "u", UserDeleted(user_id=uuid.uuid4()))
    await broker.publish(envelope)

    await eventually(lambda: len(attempts) == 3)  # first try + two retries
    await asyncio.sleep(0.5)
    assert len(attempts) == 3
    parked = await list_dead_letters(AMQP_URL, queue_name)
    assert [p.message_id for p in parked] == [str(envelope.id)]
    assert parked[0].attempts == 3
    assert "downstream rejected it" in (parked[0].error or "")

    healthy = True
    assert await replay_dead_letters(AMQP_URL, queue_name) == 1
    await eventually(lambda: len(attempts) == 4)
    await asyncio.sleep(0.3)
    assert await list_dead_letters(AMQP_URL, queue_name) == []
    await consumer.stop()
    await delete_queues(AMQP_URL, [queue_name])


async def test_a_message_that_does_not_parse_is_parked_at_once(
    sessionmaker: async_sessionmaker[AsyncSession], broker: Broker, queue_name: str
) -> None:
    calls: list[Envelope] = []

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        calls.append(envelope)

    consumer = Consumer(
        broker, sessionmaker, tables.inbox, [Subscription(queue_name, ["user.deleted"], handler)]
    )
    await consumer.start()
    await broker.publish_raw(b"{garbage", "user.deleted", "bad-1")
    for _ in range(50):
        if await list_dead_letters(AMQP_URL, queue_name):
            break
        await asyncio.sleep(0.1)
    parked = await list_dead_letters(AMQP_URL, queue_name)
    assert [p.message_id for p in parked] == ["bad-1"]
    assert calls == []
    await consumer.stop()
    await delete_queues(AMQP_URL, [queue_name])


async def test_a_trace_started_before_publishing_continues_in_the_consumer(
    sessionmaker: async_sessionmaker[AsyncSession], broker: Broker, queue_name: str
) -> None:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    seen_trace_ids: list[int] = []

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        seen_trace_ids.append(trace.get_current_span().get_span_context().trace_id)

    consumer = Consumer(
        broker, sessionmaker, tables.inbox, [Subscription(queue_name, ["user.deleted"], handler)]
    )
    await consumer.start()
    with trace.get_tracer("test").start_as_current_span("request") as span:
        started = span.get_span_context().trace_id
        await broker.publish(make_envelope("test", "u", UserDeleted(user_id=uuid.uuid4())))
    await eventually(lambda: len(seen_trace_ids) == 1)
    assert seen_trace_ids == [started]
    await consumer.stop()
    await delete_queues(AMQP_URL, [queue_name])
