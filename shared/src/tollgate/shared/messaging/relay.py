"""OutboxRelay: moves committed events from a service's outbox to the broker.

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` so several replicas can relay
side by side, published with confirms, and marked sent in the same transaction
that claimed them. A process that dies between publishing and marking leaves the
rows unsent, so they go out again: delivery is at least once, and consumers
deduplicate by event id. Rows of the types given as ``bundled`` leave as bundles:
one message for all of a type's claimed rows (``bundles``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tollgate.shared.messaging.broker import Broker
from tollgate.shared.messaging.bundles import BUNDLE_CONTENT_TYPE, bundle_body
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
        bundled: Collection[str] = (),
    ) -> None:
        self.sessionmaker = sessionmaker
        self.outbox = outbox
        self.broker = broker
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.bundled = frozenset(bundled)
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
            parcels = _parcels(rows, self.bundled)
            # Confirms are pipelined: publish every message, then wait for all of them.
            results = await asyncio.gather(
                *(self._publish(parcel) for parcel in parcels), return_exceptions=True
            )
            sent = [r.id for p, res in zip(parcels, results, strict=True) if res is None for r in p]
            failed = [
                (r, res)
                for p, res in zip(parcels, results, strict=True)
                if isinstance(res, BaseException)
                for r in p
            ]
            if sent:
                await self._mark_published(session, sent)
            for row, error in failed:
                await self._schedule_retry(session, row, error)
            if failed:
                OUTBOX_PUBLISH_FAILURES.inc(len(failed))
            return len(sent)

    async def _publish(self, rows: Sequence[Any]) -> None:
        first = rows[0]
        if first.event_type not in self.bundled:  # a parcel of one (``_parcels``)
            await self.broker.publish_raw(
                first.body.encode(), first.event_type, str(first.event_id), first.headers or {}
            )
            return
        # The bundle carries the first event's trace; each envelope keeps its own id.
        await self.broker.publish_raw(
            bundle_body([(r.body, r.headers) for r in rows]),
            first.event_type,
            f"{first.event_id}+{len(rows) - 1}",
            first.headers or {},
            content_type=BUNDLE_CONTENT_TYPE,
        )

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


def _parcels(rows: Sequence[Any], bundled: frozenset[str]) -> list[list[Any]]:
    """What goes out as one message: a bundled type's rows together, any other row alone."""
    bundles: dict[str, list[Any]] = {}
    parcels: list[list[Any]] = []
    for row in rows:
        if row.event_type in bundled:
            if row.event_type not in bundles:
                bundles[row.event_type] = []
                parcels.append(bundles[row.event_type])
            bundles[row.event_type].append(row)
        else:
            parcels.append([row])
    return parcels
