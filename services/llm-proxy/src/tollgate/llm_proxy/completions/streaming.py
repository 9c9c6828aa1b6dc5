"""Passing an upstream stream to the client while keeping the accounts.

The upstream is read by its own task, which hands frames to the response
through a queue. The response can therefore go away (the client hung up)
without stopping the reading: the task keeps going for a bounded time to learn
the final usage, then records the call. Whatever happens, the call is recorded
exactly once, with the tokens the upstream produced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp

from tollgate.llm_proxy.completions.calls import Call
from tollgate.llm_proxy.request_log.service import CallRecord
from tollgate.llm_proxy.upstream.protocol import StreamTranslator
from tollgate.llm_proxy.upstream.sse import IdleStream
from tollgate.shared.openai_errors import stream_interrupted_error

__all__ = ["DONE", "StreamPump"]

log = logging.getLogger("tollgate.llm_proxy.streaming")
DONE = b"data: [DONE]\n\n"


class StreamPump:
    def __init__(
        self,
        call: Call,
        response: aiohttp.ClientResponse,
        events: AsyncIterator[tuple[str | None, bytes]],
        translator: StreamTranslator,
        first_frames: list[bytes],
        *,
        record: Callable[[CallRecord], Awaitable[None]],
        on_outcome: Callable[[bool], None],
        drain_seconds: float,
        tasks: set[asyncio.Task[None]],
    ) -> None:
        self.call = call
        self.response = response
        self.events = events
        self.translator = translator
        self.record = record
        self.on_outcome = on_outcome
        self.drain_seconds = drain_seconds
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        for frame in first_frames:
            self.queue.put_nowait(frame)
        self._deadline: asyncio.Timeout | None = None
        self._client_gone = False
        self.task = asyncio.create_task(self._pump(), name=f"stream-{call.request_id}")
        tasks.add(self.task)
        self.task.add_done_callback(tasks.discard)

    async def frames(self) -> AsyncIterator[bytes]:
        """What the client receives; closing it early leaves the pump running, bounded."""
        try:
            while True:
                frame = await self.queue.get()
                if frame is None:
                    return
                # Whatever else is already waiting goes out in the same write: one trip
                # through the middleware instead of one per event, and no added wait.
                ended = False
                batch = [frame]
                while not self.queue.empty():
                    more = self.queue.get_nowait()
                    if more is None:
                        ended = True
                        break
                    batch.append(more)
                yield b"".join(batch) if len(batch) > 1 else frame
                if ended:
                    return
        finally:
            if not self.task.done():
                self._client_gone = True
                deadline = self._deadline
                if deadline is not None:
                    with contextlib.suppress(RuntimeError):  # the pump just left its read loop
                        deadline.reschedule(asyncio.get_running_loop().time() + self.drain_seconds)

    async def _pump(self) -> None:
        state = self.translator.state
        error: str | None = None
        try:
            async with asyncio.timeout(None) as self._deadline:
                async for event, data in self.events:
                    frames = self.translator.feed(event, data)
                    if state.error is not None:
                        error = state.error
                        break
                    for frame in frames:
                        self.queue.put_nowait(frame)
                    if state.finished:
                        break
        except TimeoutError:
            error = "client disconnected; upstream read stopped"
        except IdleStream as exc:
            error = str(exc)
        except (aiohttp.ClientError, ValueError) as exc:
            error = f"upstream stream broke: {type(exc).__name__}"
        except asyncio.CancelledError:
            error = "proxy shutting down"
            raise
        finally:
            self._deadline = None
            if state.finished:
                self.response.release()
            else:
                self.response.close()
            if error is None and not state.finished:
                error = "upstream closed the stream without finishing it"
            await self._settle(error)

    async def _settle(self, error: str | None) -> None:
        state = self.translator.state
        text = "".join(state.text)
        complete = error is None
        usage = self.call.billed_usage(state.usage, text, complete=complete)
        if self._client_gone:
            status = "cancelled"
        elif error is None:
            status = "succeeded"
        else:
            status = "partial"
        # The stream began, so the deployment did answer: only a broken stream counts against it.
        self.on_outcome(error is None or self._client_gone)
        record = self.call.record(
            usage,
            status=status,
            usage_reported=state.usage is not None and complete,
            error=error,
            completion_text=text,
        )
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(self.record(record))
        if error is not None and not self._client_gone:
            # In-band, so the client sees a failure rather than a clean, truncated answer.
            body = stream_interrupted_error(error)
            self.queue.put_nowait(b"data: " + body + b"\n\n")
        self.queue.put_nowait(DONE)
        self.queue.put_nowait(None)
