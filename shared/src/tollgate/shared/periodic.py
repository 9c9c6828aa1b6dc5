"""Periodic: one background step repeated every few seconds, for as long as a service runs.

Sweepers, probes and renewals all need the same care: a failing pass is logged and the
next one tries again (a broker or database outage must not end the loop for good), a
pass that hangs is cut off, and stopping waits for the task so nothing outlives the
service's connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

__all__ = ["Periodic"]

log = logging.getLogger("tollgate.periodic")


class Periodic:
    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[object]],
        interval: float,
        *,
        wait_first: bool = False,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.name = name
        self.step = step
        self.interval = interval
        # True: the first pass waits one interval (the service's start already did it).
        self.wait_first = wait_first
        self.on_error = on_error
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        if self.wait_first:
            await asyncio.sleep(self.interval)
        while True:
            try:
                await asyncio.wait_for(self.step(), timeout=max(self.interval, 30.0))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.on_error is not None:
                    self.on_error(exc)
                else:
                    log.exception("%s: pass failed", self.name)
            await asyncio.sleep(self.interval)
