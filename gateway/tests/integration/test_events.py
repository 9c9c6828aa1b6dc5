"""The event consumer: unreadable events are parked, not lost and not retried forever."""

from __future__ import annotations

import uuid

import aio_pika

from tests.integration.conftest import AMQP_URL, RunningGateway, eventually
from tollgate.gateway.events import queue_name
from tollgate.shared.messaging import Broker


async def test_an_unreadable_event_is_parked_in_its_dead_letter_queue(
    gateway: RunningGateway, broker: Broker
) -> None:
    dlq = queue_name("auth.sessions_revoked") + ".dlq"
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        await (await channel.declare_queue(dlq, passive=True)).purge()
        marker = uuid.uuid4().hex
        await broker.publish_raw(b"{not json " + marker.encode(), "auth.sessions_revoked", marker)

        async def parked() -> bool:
            queue = await channel.declare_queue(dlq, passive=True)
            return bool(queue.declaration_result.message_count)

        await eventually(parked, within=3.0)
        message = await (await channel.declare_queue(dlq, passive=True)).get(no_ack=True)
        assert marker.encode() in message.body
