"""The reservation desk: where reservations wait, to be answered a group at a time.

Requests that queue while the previous group's transaction runs share the next
one (``reserve.reserve_group``): one account lock statement, one balance query
and one insert for the whole group instead of a transaction each. If a group
fails as a whole (a deadlock, a lost connection), each request in it is retried
as a group of its own, so a caller only ever sees its own answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tollgate.shared.errors import TollgateError
from tollgate.shared.security import Principal
from tollgate.usage.config import Settings
from tollgate.usage.reservations.decisions import Answer, Ask
from tollgate.usage.reservations.reserve import reserve_group
from tollgate.usage.reservations.schemas import ReservationOut, ReservationRequest

__all__ = ["ReservationDesk"]

log = logging.getLogger("tollgate.usage.reservations")


class _KeptConnection:
    """The desk's own database connection, kept from group to group.

    A pool checkout per group would cost a liveness ping (three round trips with
    this driver) for a transaction of five; this pings once, and is replaced when
    a group fails on it.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._connection: AsyncConnection | None = None

    async def get(self) -> AsyncConnection:
        if self._connection is None:
            self._connection = await self.engine.connect()
        return self._connection

    async def close(self, *, broken: bool = False) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        with contextlib.suppress(Exception):
            if broken:
                await connection.invalidate()
            await connection.close()


class ReservationDesk:
    """Answers reservations in groups, one group at a time.

    One worker batches by itself: whatever arrives while a group's transaction is
    in flight forms the next group, so there is no need to wait for a group to
    fill, and a lone reservation is answered at once. Several workers would lock
    overlapping accounts and mostly wait for each other (measured in bench/usage:
    fewer pairs per second and more CPU per pair than one).
    """

    def __init__(self, engine: AsyncEngine, settings: Settings, *, group_size: int = 128) -> None:
        self.settings = settings
        self.group_size = group_size
        self._connection = _KeptConnection(engine)
        self._queue: asyncio.Queue[tuple[Ask, asyncio.Future[Answer]]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._worker = asyncio.create_task(self._work(), name="reservation-desk")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        await self._connection.close()

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

    async def _work(self) -> None:
        while True:
            group = await self._next_group()
            try:
                answers = await self._answer([ask for ask, _ in group])
            except asyncio.CancelledError:
                for _, future in group:
                    future.cancel()
                raise
            except Exception as exc:
                log.warning("reservation group of %d failed (%s); one by one", len(group), exc)
                for ask, future in group:
                    await self._answer_alone(ask, future)
                continue
            for (_, future), answer in zip(group, answers, strict=True):
                if not future.done():
                    future.set_result(answer)

    async def _answer(self, asks: list[Ask]) -> list[Answer]:
        """One group, in one transaction on the desk's connection."""
        connection = await self._connection.get()
        try:
            async with connection.begin():
                return await reserve_group(connection, self.settings, asks)
        except Exception:
            await self._connection.close(broken=True)  # the next group starts afresh
            raise

    async def _answer_alone(self, ask: Ask, future: asyncio.Future[Answer]) -> None:
        try:
            (answer,) = await self._answer([ask])
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(answer)
