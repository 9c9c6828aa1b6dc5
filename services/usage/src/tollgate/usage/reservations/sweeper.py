"""Marks holds past their TTL as expired, so nobody can settle them any more as a hold.

Their tokens stop counting the moment the TTL passes (balance reads ignore
expired holds); the sweep makes the state explicit and keeps the index of open
holds small.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tollgate.shared.periodic import Periodic
from tollgate.usage.ledger.repository import expire_holds
from tollgate.usage.metrics import HOLDS_EXPIRED, HOLDS_OPEN
from tollgate.usage.models import Hold

__all__ = ["HoldSweeper"]

log = logging.getLogger("tollgate.usage.sweeper")


class HoldSweeper:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        interval: float = 5.0,
        batch_size: int = 500,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.interval = interval
        self.batch_size = batch_size
        self._periodic = Periodic("hold-sweeper", self._sweep_and_tell, interval)

    async def sweep_once(self) -> int:
        """Expire every due hold, in batches; returns how many."""
        total = 0
        while True:
            async with self.sessionmaker() as session, session.begin():
                expired: int = await expire_holds(session, datetime.now(UTC), self.batch_size)
            total += expired
            HOLDS_EXPIRED.inc(expired)
            if expired < self.batch_size:
                await self._count_open()
                return total

    async def _count_open(self) -> None:
        async with self.sessionmaker() as session:
            held = await session.scalar(
                select(func.count()).select_from(Hold).where(Hold.status == "held")
            )
        HOLDS_OPEN.set(int(held or 0))

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()

    async def _sweep_and_tell(self) -> None:
        count = await self.sweep_once()
        if count:
            log.info("expired %d hold(s)", count)
