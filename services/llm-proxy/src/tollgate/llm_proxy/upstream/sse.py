"""Reading server-sent events off an upstream response, with an idle timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp

__all__ = ["MAX_LINE_BYTES", "IdleStream", "sse_events"]

# A line longer than this is not an SSE event we can use; the stream is treated as broken.
MAX_LINE_BYTES = 8 * 1024 * 1024


class IdleStream(Exception):
    """The upstream sent nothing for longer than the idle timeout."""


async def sse_events(
    content: aiohttp.StreamReader, idle_timeout: float
) -> AsyncIterator[tuple[str | None, bytes]]:
    """Yield ``(event name, data)`` per event; comments and retry hints are skipped.

    Reads whatever has arrived and splits it into lines here, so an event (usually
    one network read holding a ``data:`` line and a blank line) costs one read and
    one timeout instead of one per line.
    """
    event: str | None = None
    data: list[bytes] = []
    pending = b""
    while True:
        try:
            async with asyncio.timeout(idle_timeout):
                chunk = await content.readany()
        except TimeoutError as exc:
            raise IdleStream(f"no data from upstream for {idle_timeout:g}s") from exc
        if not chunk:  # end of body; an unterminated last line still counts
            lines, pending = ([pending] if pending else []), b""
        else:
            *lines, pending = (pending + chunk).split(b"\n")
            if len(pending) > MAX_LINE_BYTES:
                raise ValueError("upstream sent an over-long SSE line")
        for raw in lines:
            line = raw.rstrip(b"\r")
            if not line:
                if data:
                    yield event, b"\n".join(data)
                event, data = None, []
            elif line.startswith(b"data:"):
                data.append(line[5:].lstrip(b" "))
            elif line.startswith(b"event:"):
                event = line[6:].strip().decode("utf-8", "replace")
        if not chunk:
            if data:
                yield event, b"\n".join(data)
            return
