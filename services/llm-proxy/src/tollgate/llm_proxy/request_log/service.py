"""Recording a finished call: the log row and its ``usage.recorded`` event, in one transaction."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tollgate.llm_proxy.request_log.repository import RequestLogRepository
from tollgate.shared.messaging import add_event
from tollgate.shared.messaging.events import Envelope, UsageRecorded, UserDeleted

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
        )


class CallRecorder:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        outbox: Table,
        *,
        attempts: int = 5,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.outbox = outbox
        self.attempts = attempts

    async def record(self, call: CallRecord) -> None:
        """Write the call and its event; retried, because the tokens were spent either way."""
        for attempt in range(1, self.attempts + 1):
            try:
                await self._write(call)
                return
            except Exception:
                if attempt == self.attempts:
                    log.exception("could not record call %s; its hold will expire", call.request_id)
                    return
                await asyncio.sleep(0.1 * 2**attempt)

    async def _write(self, call: CallRecord) -> None:
        async with self.sessionmaker() as session, session.begin():
            values = asdict(call)
            values["total_tokens"] = call.total_tokens
            if not await RequestLogRepository(session).add(values):
                return  # already recorded: its event went out with it
            await add_event(session, self.outbox, SOURCE, call.user_id, call.event())


async def erase_user_requests(session: AsyncSession, envelope: Envelope) -> None:
    """``user.deleted``: forget the user's calls (usage keeps what was billed)."""
    data = envelope.parsed()
    assert isinstance(data, UserDeleted)
    erased = await RequestLogRepository(session).erase_user(data.user_id)
    log.info("erased %d logged calls of deleted user %s", erased, data.user_id)
