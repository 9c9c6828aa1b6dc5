"""balance.low and quota.exhausted for calls that reserved first, as every LLM call does."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
from sqlalchemy import func, select
from usage_builders import usage_recorded
from usage_harness import AMQP_URL, Usage, eventually, give_plan

from tollgate.shared.messaging import EXCHANGE
from tollgate.usage.models import UsageRecord


@pytest.fixture
async def alerts() -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, "balance.low")
        await queue.bind(exchange, "quota.exhausted")
        yield queue


async def announced(queue: aio_pika.abc.AbstractQueue, account: uuid.UUID) -> list[tuple[str, int]]:
    """Every alert for ``account`` until none has come for a second (time for a duplicate)."""
    seen: list[tuple[str, int]] = []
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    while loop.time() - quiet_since < 1.0:
        message = await queue.get(fail=False)
        if message is None:
            await asyncio.sleep(0.05)
            continue
        await message.ack()
        quiet_since = loop.time()
        envelope = json.loads(message.body)
        if envelope["data"]["account_id"] == str(account):
            seen.append((envelope["type"], envelope["data"]["threshold"]))
    return seen


async def spend(usage: Usage, user: uuid.UUID, *, prompt: int, completion: int, hold: int) -> None:
    """Reserve ``hold`` credits, then report a call that used prompt + completion."""
    token = usage.user_token(user)
    reserved = await usage.reserve(token, prompt_tokens=prompt, max_completion_tokens=hold - prompt)
    assert reserved.status_code == 201, reserved.text
    body = reserved.json()
    assert body["held_tokens"] == hold

    async def count() -> int:
        return int(
            await usage.db(
                lambda s: s.scalar(select(func.count()).where(UsageRecord.user_id == user))
            )
            or 0
        )

    before = await count()
    await usage.publish(
        usage_recorded(
            user,
            reservation_id=uuid.UUID(body["reservation_id"]),
            prompt_tokens=prompt,
            completion_tokens=completion,
        )
    )

    async def recorded() -> bool:
        return await count() > before

    await eventually(recorded)


async def test_a_call_that_used_less_than_its_hold_still_announces_the_threshold_it_crossed(
    usage: Usage, alerts: aio_pika.abc.AbstractQueue
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 10_000)

    # 10,000 → 1,500 left: past 20 % (2,000). While the 9,000 hold was open only 1,000
    # showed as available, so the balance shown rose at settlement; the grants fell.
    await spend(usage, user, prompt=7_000, completion=1_500, hold=9_000)
    # 1,500 → 100: past 10 % (1,000).
    await spend(usage, user, prompt=1_000, completion=400, hold=1_500)
    # 100 → 0.
    await spend(usage, user, prompt=50, completion=50, hold=100)
    # Nothing left to cross: no second word of any threshold.
    await usage.publish(usage_recorded(user, prompt_tokens=10, completion_tokens=0))

    assert await announced(alerts, user) == [
        ("balance.low", 2_000),
        ("balance.low", 1_000),
        ("quota.exhausted", 0),
    ]
