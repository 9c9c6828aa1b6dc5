"""One proxied call as it runs: who asked, what for, which hold pays, and how it ended."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tollgate.llm_proxy.catalog.service import Deployment, Model
from tollgate.llm_proxy.metering.reservations import Hold
from tollgate.llm_proxy.metering.tokens import counter_for
from tollgate.llm_proxy.request_log.service import CallRecord
from tollgate.llm_proxy.upstream.protocol import Usage
from tollgate.shared.security import Principal

__all__ = ["Call"]


@dataclass
class Call:
    principal: Principal
    endpoint: str  # chat | completions | embeddings
    model: Model
    body: dict[str, Any]
    stream: bool
    client_wants_usage: bool
    prompt_tokens: int  # our offline estimate
    http_request_id: str | None
    prompt_text: str | None = None  # kept only when content storage is on
    feature: str | None = None  # the client's tag for usage stats
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    t0: float = field(default_factory=time.perf_counter)
    hold: Hold | None = None
    deployment: Deployment | None = None
    attempts: int = 0
    ttft_ms: int | None = None
    recorded: bool = False  # its one usage record has been made: nothing else may settle it

    def mark_first_token(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = self.elapsed_ms()

    def elapsed_ms(self) -> int:
        return int((time.perf_counter() - self.t0) * 1000)

    def billed_usage(self, reported: Usage | None, text: str, *, complete: bool) -> Usage:
        """What the call cost: the upstream's own count when it finished properly.

        When the stream was cut short, usage seen so far may be a running figure
        (Anthropic reports output tokens at the end), so the larger of it and our
        own count of the text received is billed: never zero for tokens produced.
        """
        counted = counter_for(self.model.spec.tokenizer).count(text) if text else 0
        if reported is not None and complete:
            return reported
        prompt = reported.prompt_tokens if reported is not None else self.prompt_tokens
        completion = max(reported.completion_tokens if reported else 0, counted)
        return Usage(prompt, completion)

    def record(
        self,
        usage: Usage,
        *,
        status: str,
        usage_reported: bool,
        error: str | None = None,
        completion_text: str | None = None,
    ) -> CallRecord:
        self.recorded = True
        hold = self.hold
        if hold is not None and hold.lease is not None:
            # The lease learns what the call really took the moment its record is made.
            hold.lease.finish(hold, usage.prompt_tokens, usage.completion_tokens)
        p = self.principal
        d = self.deployment
        cost = d.cost_usd(usage.prompt_tokens, usage.completion_tokens) if d else Decimal(0)
        return CallRecord(
            request_id=self.request_id,
            http_request_id=self.http_request_id,
            user_id=p.user_id,
            org_id=p.org,
            api_key_id=p.api_key_id,
            session_id=p.sid,
            reservation_id=hold.reservation_id if hold else None,
            endpoint=self.endpoint,
            model=self.model.id,
            provider=d.provider.name if d else None,
            upstream_model=d.upstream_model if d else None,
            stream=self.stream,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            usage_reported=usage_reported,
            cost_usd=cost,
            status=status,
            error=error[:2000] if error else None,
            attempts=self.attempts,
            latency_ms=self.elapsed_ms(),
            ttft_ms=self.ttft_ms,
            started_at=self.started_at,
            prompt=self.prompt_text,
            completion=completion_text if self.prompt_text is not None else None,
            feature=self.feature,
        )
