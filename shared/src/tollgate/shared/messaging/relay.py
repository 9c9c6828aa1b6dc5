"""OutboxRelay: moves committed events from a service's outbox to the broker.

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` so several replicas can relay
side by side, published with confirms, and marked sent in the same transaction
that claimed them. A process that dies between publishing and marking leaves the
rows unsent, so they go out again: delivery is at least once, and consumers
deduplicate by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tollgate.shared.messaging.broker import Broker
from tollgate.shared.messaging.metrics import (
    OUTBOX_OLDEST_AGE,
    OUTBOX_PENDING,
    OUTBOX_PUBLISH_FAILURES,
)
from tollgate.shared.messaging.outbox import on_outbox_commit

__all__ = ["OutboxRelay"]

log = logging.getLogger("tollgate.outbox")


class OutboxRelay:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        outbox: Table,
        broker: Broker,
        *,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        max_backoff: float = 30.0,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.outbox = outbox
        self.broker = broker
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe = on_outbox_commit(self.wake)
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Events were committed: publish now, not at the next poll (from any thread)."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self.run_forever(), name="outbox-relay")

    async def stop(self) -> None:
        self._unsubscribe()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_forever(self) -> None:
        while True:
            try:
                sent = await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay pass failed")
                sent = 0
            if sent >= self.batch_size:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)

    async def drain_once(self) -> int:
        """Publish one batch of due events; returns how many were confirmed."""
        if not self.broker.is_connected:
            return 0
        o = self.outbox
        async with self.sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    select(
                        o.c.id, o.c.event_id, o.c.event_type, o.c.body, o.c.headers, o.c.attempts
                    )
                    .where(o.c.published_at.is_(None), o.c.next_attempt_at <= func.now())
                    .order_by(o.c.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            # Confirms are pipelined: publish the whole batch, then wait for all of them.
            results = await asyncio.gather(
                *(
                    self.broker.publish_raw(
                        r.body.encode(), r.event_type, str(r.event_id), r.headers or {}
                    )
                    for r in rows
                ),
                return_exceptions=True,
            )
            sent = [r.id for r, res in zip(rows, results, strict=True) if res is None]
            failed = [
                (r, res)
                for r, res in zip(rows, results, strict=True)
                if isinstance(res, BaseException)
            ]
            if sent:
                await self._mark_published(session, sent)
            for row, error in failed:
                await self._schedule_retry(session, row, error)
            if failed:
                OUTBOX_PUBLISH_FAILURES.inc(len(failed))
            return len(sent)

    async def _mark_published(self, session: AsyncSession, ids: list[int]) -> None:
        await session.execute(
            update(self.outbox).where(self.outbox.c.id.in_(ids)).values(published_at=func.now())
        )

    async def _schedule_retry(self, session: AsyncSession, row: Any, error: BaseException) -> None:
        delay = min(self.max_backoff, 0.5 * 2 ** min(row.attempts, 16))
        log.warning("outbox publish failed, retrying in %.1fs: %r", delay, error)
        await session.execute(
            update(self.outbox)
            .where(self.outbox.c.id == row.id)
            .values(
                attempts=self.outbox.c.attempts + 1,
                next_attempt_at=func.now() + timedelta(seconds=delay),
                last_error=repr(error)[:1000],
            )
        )

    async def pending(self) -> int:
        count, _ = await self.backlog()
        return count

    async def backlog(self) -> tuple[int, float]:
        """Events waiting and the age in seconds of the oldest; sets the outbox gauges."""
        o = self.outbox
        async with self.sessionmaker() as session:
            row = (
                await session.execute(
                    select(
                        func.count(),
                        func.coalesce(
                            func.extract("epoch", func.now() - func.min(o.c.created_at)), 0
                        ),
                    ).where(o.c.published_at.is_(None))
                )
            ).one()
        count, age = int(row[0] or 0), float(row[1] or 0)
        OUTBOX_PENDING.set(count)
        OUTBOX_OLDEST_AGE.set(age)
        return count, age
