"""List and replay parked messages.

    python -m tollgate.shared.messaging.dead_letters list   QUEUE [--amqp-url URL]
    python -m tollgate.shared.messaging.dead_letters replay QUEUE [--limit N] [--amqp-url URL]

``QUEUE`` is the consumer's queue (``usage.usage-recorded``); its parked messages
live in ``QUEUE.dlq``. Replay moves them back into ``QUEUE`` with a fresh attempt
count. Consumers are idempotent, so replaying an already applied event is harmless.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from dataclasses import dataclass
from typing import Any

import aio_pika

from tollgate.shared.messaging.consumer import ATTEMPT_HEADER, ERROR_HEADER

__all__ = ["DeadLetter", "list_dead_letters", "replay_dead_letters"]


@dataclass
class DeadLetter:
    message_id: str | None
    type: str | None
    error: str | None
    attempts: int | None
    body: str


async def list_dead_letters(url: str, queue: str, limit: int = 100) -> list[DeadLetter]:
    """Peek at parked messages; they stay in the DLQ."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        dlq = await channel.declare_queue(f"{queue}.dlq", durable=True)
        seen: list[DeadLetter] = []
        held: list[Any] = []
        for _ in range(limit):
            message = await dlq.get(no_ack=False, fail=False)
            if message is None:
                break
            held.append(message)
            headers = dict(message.headers or {})
            seen.append(
                DeadLetter(
                    message.message_id,
                    message.type,
                    str(headers.get(ERROR_HEADER)) if ERROR_HEADER in headers else None,
                    int(str(headers[ATTEMPT_HEADER])) if ATTEMPT_HEADER in headers else None,
                    message.body.decode(errors="replace"),
                )
            )
        for message in held:
            await message.nack(requeue=True)
    return seen


async def replay_dead_letters(url: str, queue: str, limit: int | None = None) -> int:
    """Move parked messages back to their queue; returns how many were moved."""
    connection = await aio_pika.connect(url)
    moved = 0
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        dlq = await channel.declare_queue(f"{queue}.dlq", durable=True)
        while limit is None or moved < limit:
            message = await dlq.get(no_ack=False, fail=False)
            if message is None:
                break
            headers = {
                k: v
                for k, v in dict(message.headers or {}).items()
                if k not in (ATTEMPT_HEADER, ERROR_HEADER)
            }
            await channel.default_exchange.publish(
                aio_pika.Message(
                    message.body,
                    message_id=message.message_id,
                    type=message.type,
                    content_type=message.content_type,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    headers=headers,
                ),
                routing_key=queue,
            )
            await message.ack()
            moved += 1
    return moved


def main() -> None:
    parser = argparse.ArgumentParser(description="Inspect and replay dead-lettered events.")
    parser.add_argument("action", choices=["list", "replay"])
    parser.add_argument("queue", help="the consumer queue, e.g. usage.usage-recorded")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument(
        "--amqp-url", default=os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/")
    )
    args = parser.parse_args()
    if args.action == "list":
        letters = asyncio.run(list_dead_letters(args.amqp_url, args.queue, args.limit or 100))
        for letter in letters:
            print(json.dumps(letter.__dict__))
        print(f"{len(letters)} dead letter(s) in {args.queue}.dlq")
    else:
        moved = asyncio.run(replay_dead_letters(args.amqp_url, args.queue, args.limit))
        print(f"replayed {moved} message(s) into {args.queue}")


if __name__ == "__main__":
    main()
