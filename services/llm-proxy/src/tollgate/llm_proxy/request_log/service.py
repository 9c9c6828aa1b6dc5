"""Recording a finished call: the log row and its ``usage.recorded`` event, in one statement."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.llm_proxy.metrics import CALLS, RECORD_SECONDS, TIME_TO_FIRST_TOKEN, TOKENS
from tollgate.llm_proxy.request_log.repository import LOG_COLUMNS, RequestLogRepository, add_calls
from tollgate.shared.messaging import make_envelope
from tollgate.shared.messaging.events import Envelope, UsageRecorded, UserDeleted
from tollgate.shared.messaging.outbox import OutboxRow, outbox_row

__all__ = ["SOURCE", "CallRecord", "CallRecorder", "erase_user_requests"]

SOURCE = "llm-proxy"
log = logging.getLogger("tollgate.llm_proxy.request_log")


@dataclass
class CallRecord:
    request_id: str
    http_request_id: str | None
    user_id: uuid.UUID
    org_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    session_id: uuid.UUID | None
    reservation_id: uuid.UUID | None
    endpoint: str
    model: str
    provider: str | None
    upstream_model: str | None
    stream: bool
    prompt_tokens: int
    completion_tokens: int
    usage_reported: bool
    cost_usd: Decimal
    # succeeded | failed (no token produced) | partial (stopped by an upstream error
    # after tokens were produced) | cancelled (the client hung up)
    status: str
    error: str | None
    attempts: int
    latency_ms: int | None
    ttft_ms: int | None
    started_at: datetime
    prompt: str | None = None
    feature: str | None = None
    completion: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def event(self) -> UsageRecorded:
        return UsageRecorded(
            request_id=self.request_id,
            reservation_id=self.reservation_id,
            user_id=self.user_id,
            org_id=self.org_id,
            api_key_id=self.api_key_id,
            session_id=self.session_id,
            model=self.model,
            provider=self.provider or "none",
            endpoint=self.endpoint,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            total_tokens=self.total_tokens,
            cost_usd=self.cost_usd,
            status=self.status,
            latency_ms=self.latency_ms,
            ttft_ms=self.ttft_ms,
            started_at=self.started_at,
            feature=self.feature,
        )


class CallRecorder:
    """Writes finished calls in batches: one transaction for whatever is waiting.

    Under load many calls finish at once; batching turns their rows and events into
    one statement (committing by itself) instead of a transaction each. A caller still waits
    until its own call is committed, so a non-streamed answer is never returned (nor
    a stream's ``[DONE]`` sent) before its bill is safe in the outbox.
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        *,
        on_commit: Callable[[], None] | None = None,
        attempts: int = 5,
        max_batch: int = 500,
    ) -> None:
        # The writer is one task, so one connection of its own serves it: opened on
        # first use, dropped on any error and opened again by the next attempt.
        self.connect = connect
        self._connection: asyncpg.Connection | None = None
        # Wakes the outbox relay, so the events leave now rather than at its next poll.
        self.on_commit = on_commit
        self.attempts = attempts
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    async def record(self, call: CallRecord) -> None:
        """Queue the call and wait until it is committed (or given up on, and logged)."""
        CALLS.labels(call.model, call.status).inc()
        TOKENS.labels(call.model, "prompt").inc(call.prompt_tokens)
        TOKENS.labels(call.model, "completion").inc(call.completion_tokens)
        if call.ttft_ms is not None:
            TIME_TO_FIRST_TOKEN.labels(call.model).observe(call.ttft_ms / 1000)
        # Built here, in the caller's context, so the event carries the call's own trace.
        event = outbox_row(make_envelope(SOURCE, call.user_id, call.event()))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(call.request_id, _log_row(call), event, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches(), name="call-recorder")
        with RECORD_SECONDS.time():
            await asyncio.shield(done)

    async def close(self) -> None:
        """Wait for what is queued (the writer stops once the queue is empty), then disconnect."""
        if self._writer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await self._disconnect()

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)

    async def _write_batches(self) -> None:
        while not self._queue.empty():
            batch = [self._queue.get_nowait()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if await self._write_with_retries(batch) and self.on_commit is not None:
                self.on_commit()
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_result(None)

    async def _write_with_retries(self, batch: list[_Pending]) -> bool:
        for attempt in range(1, self.attempts + 1):
            try:
                await self._write(batch)
                return True
            except Exception:
                await self._disconnect()
                if attempt == self.attempts:
                    log.exception(
                        "could not record %d calls (first %s); their holds will expire",
                        len(batch),
                        batch[0].request_id,
                    )
                    return False
                await asyncio.sleep(0.1 * 2**attempt)
        return False

    async def _write(self, batch: list[_Pending]) -> None:
        # One row and one event per call, even if it was queued twice.
        unique = list({p.request_id: p for p in reversed(batch)}.values())
        if self._connection is None or self._connection.is_closed():
            self._connection = await self.connect()
        await add_calls(self._connection, [p.row for p in unique], [p.event for p in unique])


@dataclass(frozen=True)
class _Pending:
    request_id: str
    row: tuple[Any, ...]
    event: OutboxRow
    done: asyncio.Future[None]


# The values of a call's row, in LOG_COLUMNS order (total_tokens is a property).
_log_row: Callable[[CallRecord], tuple[Any, ...]] = attrgetter(*(name for name, _ in LOG_COLUMNS))


async def erase_user_requests(session: AsyncSession, envelope: Envelope) -> None:
    """``user.deleted``: forget the user's calls (usage keeps what was billed)."""
    data = envelope.parsed()
    assert isinstance(data, UserDeleted)
    erased = await RequestLogRepository(session).erase_user(data.user_id)
    log.info("erased %d logged calls of deleted user %s", erased, data.user_id)
