"""Reading server-sent events off an upstream response, with an idle timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp

__all__ = ["IdleStream", "sse_events"]


class IdleStream(Exception):
    """The upstream sent nothing for longer than the idle timeout."""


async def sse_events(
    content: aiohttp.StreamReader, idle_timeout: float
) -> AsyncIterator[tuple[str | None, bytes]]:
    """Yield ``(event name, data)`` per event; comments and retry hints are skipped."""
    event: str | None = None
    data: list[bytes] = []
    while True:
        try:
            async with asyncio.timeout(idle_timeout):
                line = await content.readline()
        except TimeoutError as exc:
            raise IdleStream(f"no data from upstream for {idle_timeout:g}s") from exc
        if not line:  # end of body
            if data:
                yield event, b"\n".join(data)
            return
        line = line.rstrip(b"\r\n")
        if not line:
            if data:
                yield event, b"\n".join(data)
            event, data = None, []
        elif line.startswith(b"data:"):
            data.append(line[5:].lstrip(b" "))
        elif line.startswith(b"event:"):
            event = line[6:].strip().decode("utf-8", "replace")
