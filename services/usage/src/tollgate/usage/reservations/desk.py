"""The reservation desk: concurrent reservations are answered in groups.

Requests that queue while the previous group's transaction runs share the next
one: one account lock statement, one balance query and one insert for the whole
group instead of a transaction each — on the driver directly for a group of plain
users (``direct``), through the ORM for anything else (``batch.reserve_many``).
If a group fails as a whole (a deadlock, a lost connection), each request in it
is retried as a group of its own, so a caller only ever sees its own answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from tollgate.shared.errors import TollgateError
from tollgate.shared.security import Principal
from tollgate.usage.config import Settings
from tollgate.usage.reservations.batch import Answer, Ask, reserve_many
from tollgate.usage.reservations.direct import reserve_plain
from tollgate.usage.reservations.schemas import ReservationOut, ReservationRequest

__all__ = ["ReservationDesk"]

log = logging.getLogger("tollgate.usage.reservations")


class _Lane:
    """One desk worker's connection, kept from group to group.

    A pool checkout per group would cost a liveness ping (three round trips with
    this driver) for a transaction of five; a lane pings once, and is replaced
    when a group fails on it.
    """

    def __init__(self, engine: AsyncEngine | None) -> None:
        self.engine = engine
        self._connection: AsyncConnection | None = None

    async def driver(self) -> asyncpg.Connection:
        assert self.engine is not None
        if self._connection is None:
            self._connection = await self.engine.connect()
        raw = await self._connection.get_raw_connection()
        driver: asyncpg.Connection = raw.driver_connection
        return driver

    async def close(self, *, broken: bool = False) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        with contextlib.suppress(Exception):
            if broken:
                await connection.invalidate()
            await connection.close()


class ReservationDesk:
    """Answers reservations in groups, one group at a time by default.

    One worker batches by itself: whatever arrives while a group's transaction is
    in flight forms the next group, so there is no need to wait for a group to
    fill, and a lone reservation is answered at once. Several workers
    would lock overlapping accounts and mostly wait for each other (measured in
    bench/usage: fewer pairs per second and more CPU per pair than one).
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        engine: AsyncEngine | None = None,
        group_size: int = 128,
        workers: int = 1,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.engine = engine
        self.settings = settings
        self.group_size = group_size
        self.worker_count = workers
        self._queue: asyncio.Queue[tuple[Ask, asyncio.Future[Answer]]] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._lanes: list[_Lane] = []

    def start(self) -> None:
        self._lanes = [_Lane(self.engine) for _ in range(self.worker_count)]
        self._workers = [
            asyncio.create_task(self._work(lane), name=f"reservation-desk-{i}")
            for i, lane in enumerate(self._lanes)
        ]

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []
        for lane in self._lanes:
            await lane.close()

    async def reserve(self, caller: Principal, request: ReservationRequest) -> ReservationOut:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        await self._queue.put((Ask(caller, request), future))
        answer = await future
        if isinstance(answer, TollgateError):
            raise answer
        return answer

    async def _next_group(self) -> list[tuple[Ask, asyncio.Future[Answer]]]:
        """The first waiting reservation and whatever queued behind it, up to a group."""
        group = [await self._queue.get()]
        while len(group) < self.group_size and not self._queue.empty():
            group.append(self._queue.get_nowait())
        return group

    async def _work(self, lane: _Lane) -> None:
        while True:
            group = await self._next_group()
            asks = [ask for ask, _ in group]
            try:
                answers = await self._direct(lane, asks)
                if answers is None:
                    async with self.sessionmaker() as session, session.begin():
                        answers = await reserve_many(session, self.settings, asks)
            except asyncio.CancelledError:
                for _, future in group:
                    future.cancel()
                raise
            except Exception as exc:
                log.warning("reservation group of %d failed (%s); one by one", len(group), exc)
                for ask, future in group:
                    await self._one(ask, future)
                continue
            for (_, future), answer in zip(group, answers, strict=True):
                if not future.done():
                    future.set_result(answer)

    async def _direct(self, lane: _Lane, asks: list[Ask]) -> list[Answer] | None:
        """The plain users' way (``direct``) on the worker's own connection, or None."""
        if self.engine is None:
            return None
        try:
            return await reserve_plain(await lane.driver(), self.settings, asks)
        except Exception:
            await lane.close(broken=True)  # the next group starts on a fresh connection
            raise

    async def _one(self, ask: Ask, future: asyncio.Future[Answer]) -> None:
        try:
            async with self.sessionmaker() as session, session.begin():
                (answer,) = await reserve_many(session, self.settings, [ask])
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(answer)
