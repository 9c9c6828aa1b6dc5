"""The ``usage.recorded`` consumer: the shared Consumer, fed in batches.

Deliveries are gathered for a few milliseconds (up to ``batch_size``) and
applied in one transaction by ``apply_usage_batch``; the inbox rows go in the
same transaction, and every message is acked only after it commits. If a batch
fails, each of its messages goes through the shared one-at-a-time path, with
its retries and dead-letter queue, so one poison event cannot hold up the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tollgate.shared.messaging import Broker, Consumer, Envelope, Subscription
from tollgate.usage.config import Settings
from tollgate.usage.metering.batch import apply_usage_batch

__all__ = ["UsageIngestor"]

log = logging.getLogger("tollgate.usage.ingest")


class UsageIngestor(Consumer):
    def __init__(
        self,
        broker: Broker,
        sessionmaker: async_sessionmaker[AsyncSession],
        tables_inbox: Table,
        outbox: Table,
        subscription: Subscription,
        settings: Settings,
        *,
        batch_size: int = 200,
        linger: float = 0.005,
        workers: int = 2,
    ) -> None:
        super().__init__(
            broker, sessionmaker, tables_inbox, [subscription], prefetch=batch_size * workers * 2
        )
        self.subscription = subscription
        self.settings = settings
        self.outbox = outbox
        self.batch_size = batch_size
        self.linger = linger
        self.worker_count = workers
        self._pending: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(), name=f"usage-ingest-{i}")
            for i in range(self.worker_count)
        ]
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        for task in self._workers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []

    def _callback(self, sub: Subscription) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
        async def on_message(message: AbstractIncomingMessage) -> None:
            await self._pending.put(message)

        return on_message

    async def _next_batch(self) -> list[AbstractIncomingMessage]:
        batch = [await self._pending.get()]
        deadline = asyncio.get_running_loop().time() + self.linger
        while len(batch) < self.batch_size:
            timeout = deadline - asyncio.get_running_loop().time()
            if timeout <= 0 and self._pending.empty():
                break
            try:
                batch.append(await asyncio.wait_for(self._pending.get(), max(timeout, 0)))
            except TimeoutError:
                break
        return batch

    async def _work(self) -> None:
        while True:
            batch = await self._next_batch()
            try:
                await self._apply_batch(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("batch of %d failed (%s); applying one by one", len(batch), exc)
                for message in batch:
                    await self.handle(self.subscription, message)

    async def _apply_batch(self, batch: list[AbstractIncomingMessage]) -> None:
        envelopes: list[Envelope] = []
        for message in batch:
            try:
                envelopes.append(Envelope.model_validate_json(message.body))
            except ValidationError as exc:
                raise ValueError("a message does not parse") from exc
        async with self.sessionmaker() as session, session.begin():
            await apply_usage_batch(
                session, self.settings, self.outbox, self.subscription.queue, envelopes
            )
        for message in batch:
            await message.ack()
