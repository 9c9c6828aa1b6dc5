"""The ``usage.recorded`` consumer: the shared Consumer, fed in batches of deliveries.

One worker gathers deliveries for a few milliseconds (up to ``batch_size``) and
applies them in one transaction with ``apply_usage_events``; no inbox row is
written for them (the call's ``request_id`` already makes a redelivery harmless),
and every message is acked only after the transaction commits. If a batch fails,
each of its messages goes through the shared one-at-a-time path (an inbox row,
its own transaction, retries and the dead-letter queue), applied by the same
``apply_usage_events`` as a batch of one, so one poison event cannot hold up the
rest. A bundle (llm-proxy sends its events so, many to a message) counts as its
events; one that fails is split into single messages by the shared path.
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
from tollgate.shared.messaging.bundles import events_in
from tollgate.usage.config import Settings
from tollgate.usage.metering.apply import apply_usage_events

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
    ) -> None:
        super().__init__(
            broker, sessionmaker, tables_inbox, [subscription], prefetch=batch_size * 2
        )
        self.subscription = subscription
        self.settings = settings
        self.outbox = outbox
        self.batch_size = batch_size
        self.linger = linger
        self._pending: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._worker = asyncio.create_task(self._work(), name="usage-ingest")
        await super().start()

    async def stop(self) -> None:
        # Worker first: whatever it has not acked is redelivered when the channel
        # closes, and the usage rows' request_ids drop what its last transaction
        # already applied.
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        await super().stop()

    def _callback(self, sub: Subscription) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
        async def on_message(message: AbstractIncomingMessage) -> None:
            await self._pending.put(message)

        return on_message

    async def _next_batch(self) -> list[AbstractIncomingMessage]:
        """The first waiting delivery, plus whatever else arrives within ``linger``."""
        batch = [await self._pending.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.linger
        while len(batch) < self.batch_size:
            while len(batch) < self.batch_size and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            left = deadline - loop.time()
            if len(batch) >= self.batch_size or left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._pending.get(), left))
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
                envelopes.extend(e.event for e in events_in(message))
            except ValidationError as exc:
                raise ValueError("a message does not parse") from exc
        async with self.sessionmaker() as session, session.begin():
            await apply_usage_events(session, self.settings, self.outbox, envelopes)
        # One worker takes deliveries in order, so every earlier one on this channel is
        # already settled: a single cumulative ack covers the batch.
        await batch[-1].ack(multiple=True)
