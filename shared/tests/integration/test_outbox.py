"""The outbox delivers every committed event at least once, and nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Awaitable, Callable

import aio_pika
import asyncpg
import pytest
from opentelemetry import trace
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tollgate.shared.messaging import (
    Broker,
    Consumer,
    Envelope,
    OutboxRelay,
    Subscription,
    add_event,
    make_envelope,
)
from tollgate.shared.messaging.bundles import BUNDLE_CONTENT_TYPE
from tollgate.shared.messaging.events import ApiKeyRevoked, UserDeleted
from tollgate.shared.messaging.outbox import add_outbox_rows, outbox_row

from .conftest import AMQP_URL, DATABASE_URL, CuttableProxy, effects, tables

pytestmark = pytest.mark.integration


async def write_event(
    sessionmaker: async_sessionmaker[AsyncSession], *, commit: bool = True
) -> Envelope:
    async with sessionmaker() as session:
        envelope = await add_event(
            session, tables.outbox, "test", "user", UserDeleted(user_id=uuid.uuid4())
        )
        if commit:
            await session.commit()
        else:
            await session.rollback()
    return envelope


async def collect(
    queue_name: str, routing_key: str = "user.deleted"
) -> tuple[list[str], Callable[[], Awaitable[None]]]:
    """Bind a plain queue and record the ids of what arrives."""
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    exchange = await channel.declare_exchange("tollgate.events", "topic", durable=True)
    queue = await channel.declare_queue(queue_name, auto_delete=True)
    await queue.bind(exchange, routing_key)
    seen: list[str] = []

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        seen.append(message.message_id or "")
        await message.ack()

    await queue.consume(on_message)
    return seen, connection.close


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_an_event_in_a_rolled_back_transaction_is_never_published(
    sessionmaker: async_sessionmaker[AsyncSession], broker: Broker, queue_name: str
) -> None:
    seen, close = await collect(queue_name)
    relay = OutboxRelay(sessionmaker, tables.outbox, broker)
    rolled_back = await write_event(sessionmaker, commit=False)
    committed = await write_event(sessionmaker)
    assert await relay.drain_once() == 1
    await eventually(lambda: len(seen) == 1)
    await asyncio.sleep(0.3)
    assert seen == [str(committed.id)]
    assert str(rolled_back.id) not in seen
    await close()


class CrashingRelay(OutboxRelay):
    """Dies after the broker confirmed but before the rows were marked sent."""

    async def _mark_published(self, session: AsyncSession, ids: list[int]) -> None:
        raise SystemError("process killed")


async def test_a_relay_killed_after_publishing_publishes_again_and_the_event_applies_once(
    sessionmaker: async_sessionmaker[AsyncSession], broker: Broker, queue_name: str
) -> None:
    deliveries: list[str] = []

    async def apply(session: AsyncSession, envelope: Envelope) -> None:
        deliveries.append(str(envelope.id))
        await session.execute(insert(effects).values(event_id=str(envelope.id)))

    consumer = Consumer(
        broker,
        sessionmaker,
        tables.inbox,
        [Subscription(queue_name, ["user.deleted"], apply, retry_delays=(0.1,))],
    )
    await consumer.start()
    envelope = await write_event(sessionmaker)

    with pytest.raises(SystemError):
        await CrashingRelay(sessionmaker, tables.outbox, broker).drain_once()
    await eventually(lambda: len(deliveries) == 1)
    assert await OutboxRelay(sessionmaker, tables.outbox, broker).pending() == 1

    assert await OutboxRelay(sessionmaker, tables.outbox, broker).drain_once() == 1
    await asyncio.sleep(0.5)
    await consumer.stop()

    assert deliveries == [str(envelope.id)]  # the second copy was recognised, not applied
    async with sessionmaker() as session:
        applied = await session.scalar(select(func.count()).select_from(effects))
        inbox = await session.scalar(select(func.count()).select_from(tables.inbox))
    assert applied == 1
    assert inbox == 1


async def test_with_the_broker_gone_events_wait_and_all_drain_when_it_is_back(
    sessionmaker: async_sessionmaker[AsyncSession], queue_name: str, proxy: CuttableProxy
) -> None:
    seen, close = await collect(queue_name)
    broker = Broker(
        f"amqp://guest:guest@127.0.0.1:{proxy.port}/tollgate_test_shared", publish_timeout=1.0
    )
    await broker.connect()
    relay = OutboxRelay(sessionmaker, tables.outbox, broker, poll_interval=0.1, max_backoff=0.5)
    relay.start()

    await proxy.cut()
    await eventually(lambda: not broker.is_connected)
    written = [await write_event(sessionmaker) for _ in range(20)]
    await asyncio.sleep(1.0)
    assert seen == []
    assert await relay.pending() == 20

    await proxy.restore()
    await eventually(lambda: len(seen) >= 20, timeout=30)
    # A publish whose confirm was lost to the reconnection goes again (at least once):
    # the outbox is empty once every one is confirmed.
    deadline = asyncio.get_running_loop().time() + 30
    while await relay.pending():
        assert asyncio.get_running_loop().time() < deadline, "the outbox did not drain"
        await asyncio.sleep(0.1)
    assert set(seen) == {str(e.id) for e in written}
    await relay.stop()
    await broker.close()
    await close()


async def test_a_committed_event_leaves_without_waiting_for_the_next_poll(
    sessionmaker: async_sessionmaker[AsyncSession], broker: Broker, queue_name: str
) -> None:
    seen, close = await collect(queue_name)
    relay = OutboxRelay(sessionmaker, tables.outbox, broker, poll_interval=30)
    relay.start()
    await asyncio.sleep(0.2)  # the relay is now asleep for 30 s
    await write_event(sessionmaker)
    await eventually(lambda: len(seen) == 1, timeout=3)
    await relay.stop()
    await close()


async def test_a_batch_written_on_a_plain_connection_is_published_only_once_committed(
    sessionmaker: async_sessionmaker[AsyncSession], broker: Broker, queue_name: str
) -> None:
    seen, close = await collect(queue_name)
    relay = OutboxRelay(sessionmaker, tables.outbox, broker)
    batch = [make_envelope("test", "user", UserDeleted(user_id=uuid.uuid4())) for _ in range(3)]
    lost = make_envelope("test", "user", UserDeleted(user_id=uuid.uuid4()))
    connection = await asyncpg.connect(DATABASE_URL.replace("+asyncpg", ""))
    try:
        with contextlib.suppress(RuntimeError):
            async with connection.transaction():
                await add_outbox_rows(connection, [outbox_row(lost)])
                raise RuntimeError("the business change failed")
        async with connection.transaction():
            await add_outbox_rows(connection, [outbox_row(envelope) for envelope in batch])
    finally:
        await connection.close()
    assert await relay.drain_once() == 3
    await eventually(lambda: len(seen) == 3)
    await close()
    assert sorted(seen) == sorted(str(envelope.id) for envelope in batch)


async def test_a_bundled_type_leaves_as_one_message_and_each_event_applies_once_with_its_trace(
    sessionmaker: async_sessionmaker[AsyncSession], broker: Broker, queue_name: str
) -> None:
    tapped: list[aio_pika.abc.AbstractIncomingMessage] = []
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    exchange = await channel.declare_exchange("tollgate.events", "topic", durable=True)
    tap = await channel.declare_queue(f"{queue_name}.tap", auto_delete=True)
    for key in ("user.deleted", "apikey.revoked"):
        await tap.bind(exchange, key)
    await tap.consume(functools.partial(_keep, tapped))
    applied: list[tuple[str, str]] = []

    async def apply(session: AsyncSession, envelope: Envelope) -> None:
        traceparent = trace.get_current_span().get_span_context().trace_id
        applied.append((str(envelope.id), f"{traceparent:032x}"))
        await session.execute(insert(effects).values(event_id=str(envelope.id)))

    consumer = Consumer(
        broker,
        sessionmaker,
        tables.inbox,
        [Subscription(queue_name, ["user.deleted", "apikey.revoked"], apply)],
    )
    await consumer.start()
    traces = [uuid.uuid4().hex for _ in range(5)]
    written = []
    for trace_id in traces:
        headers = {"traceparent": f"00-{trace_id}-{'2' * 16}-01"}
        envelope = make_envelope("test", "user", UserDeleted(user_id=uuid.uuid4()))
        async with sessionmaker() as session, session.begin():
            await session.execute(
                insert(tables.outbox).values(
                    event_id=envelope.id,
                    event_type=envelope.type,
                    body=envelope.model_dump_json(),
                    headers=headers,
                )
            )
        written.append(envelope)
    # A type sent alone, claimed in the same pass, still leaves alone.
    async with sessionmaker() as session, session.begin():
        other = await add_event(
            session,
            tables.outbox,
            "test",
            "user",
            ApiKeyRevoked(key_id=uuid.uuid4(), user_id=uuid.uuid4()),
        )

    relay = OutboxRelay(sessionmaker, tables.outbox, broker, bundled=["user.deleted"])
    assert await relay.drain_once() == 6
    await eventually(lambda: len(applied) == 6)
    await asyncio.sleep(0.3)
    await consumer.stop()
    await connection.close()

    # The five written through the bundle went as one message, the other alone: two in all.
    assert sorted(m.content_type or "" for m in tapped) == sorted(
        [BUNDLE_CONTENT_TYPE, "application/json"]
    )
    assert sorted(i for i, _ in applied) == sorted(str(e.id) for e in [*written, other])
    by_id = dict(applied)
    for envelope, trace_id in zip(written, traces, strict=True):
        assert by_id[str(envelope.id)] == trace_id
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(effects)) == 6


async def _keep(
    into: list[aio_pika.abc.AbstractIncomingMessage], message: aio_pika.abc.AbstractIncomingMessage
) -> None:
    into.append(message)
    await message.ack()
