"""The token gate and failover: hold, call upstream (next deployment on failure), settle.

    hold: from the caller's lease when it covers the call, else reserved at usage
        ──402──► refused, nothing called
        │
    for each deployment (healthy first, at most max_attempts):
        connect error, timeout, 429, 5xx, broken first event ──► next deployment
        other 4xx ──► the caller's request is wrong: answer it, settle 0 tokens
        answer ──► non-streamed: bill it and return
                   streamed: hand over to StreamPump, which bills when it ends
    none answered ──► release the hold, settle 0 tokens, 502 (429 if all were rate-limited)

Every call that took a hold (its own, or a share of a lease) ends with exactly one
``usage.recorded``; so does one whose reservation may have been made at usage but whose
answer was lost (reservation_id null).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from starlette.responses import Response, StreamingResponse

from tollgate.llm_proxy.catalog.service import Deployment
from tollgate.llm_proxy.completions.calls import Call
from tollgate.llm_proxy.completions.streaming import StreamPump
from tollgate.llm_proxy.config import Settings
from tollgate.llm_proxy.errors import (
    HoldAnswerLost,
    InsufficientQuota,
    InvalidRequest,
    ProxyError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from tollgate.llm_proxy.metering.leases import LeaseBook
from tollgate.llm_proxy.metering.reservations import ReservationClient
from tollgate.llm_proxy.metrics import UPSTREAM_ATTEMPTS
from tollgate.llm_proxy.request_log.service import CallRecorder
from tollgate.llm_proxy.upstream.health import DeploymentHealth
from tollgate.llm_proxy.upstream.pool import UpstreamPool
from tollgate.llm_proxy.upstream.protocol import Usage
from tollgate.llm_proxy.upstream.sse import sse_events

__all__ = ["BALANCE_HEADER", "CompletionService"]

log = logging.getLogger("tollgate.llm_proxy.completions")
BALANCE_HEADER = "X-Tollgate-Tokens-Remaining"
RETRYABLE_STATUS = frozenset({401, 403, 404, 408, 409, 425, 429})
MAX_ERROR_BODY = 64 * 1024


class RetryableFailure(Exception):
    """This deployment failed before anything reached the client; another may do better."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass
class CompletionService:
    settings: Settings
    reservations: ReservationClient
    upstreams: UpstreamPool
    health: DeploymentHealth
    recorder: CallRecorder
    tasks: set[asyncio.Task[None]]
    leases: LeaseBook | None = None  # None: every call takes its own hold

    async def run(self, call: Call, requested_max_tokens: int | None) -> Response:
        if not any(self.upstreams.supports(d, call.endpoint) for d in call.model.deployments):
            raise InvalidRequest(f"{call.model.id} is not offered for this endpoint", param="model")
        leases = self.leases
        # A busy caller's call covered by its lease is taken here: usage is not asked.
        hold = (
            leases.spend(call.principal, call.model.id, call.prompt_tokens, requested_max_tokens)
            if leases is not None
            else None
        )
        if hold is None:
            try:
                if leases is not None:
                    hold = await leases.hold(
                        call.principal,
                        call.model.id,
                        call.request_id,
                        call.prompt_tokens,
                        requested_max_tokens,
                    )
                else:
                    hold = await self.reservations.reserve(
                        user_token=call.principal.token,
                        request_id=call.request_id,
                        model=call.model.id,
                        prompt_tokens=call.prompt_tokens,
                        max_completion_tokens=requested_max_tokens,
                        ttl_seconds=self.settings.reservation_ttl_seconds,
                    )
            except HoldAnswerLost as lost:
                # Usage may hold tokens for this request without our knowing the
                # reservation: a 0-token failure carrying the request_id lets it find
                # and settle that hold.
                record = call.record(
                    Usage(0, 0), status="failed", usage_reported=False, error=lost.detail
                )
                await asyncio.shield(self.recorder.record(record))
                raise
        call.hold = hold
        try:
            self._fit_max_tokens(call, requested_max_tokens)
            return await self._call_upstream(call)
        except BaseException as exc:
            # Nothing was produced: give the tokens back and settle the hold at zero.
            await self._settle_unused(call, exc)
            raise

    def _fit_max_tokens(self, call: Call, requested: int | None) -> None:
        if call.endpoint == "embeddings" or requested is not None or call.hold is None:
            return
        allowed = call.hold.max_completion_tokens
        if allowed is None:
            allowed = call.hold.held_tokens - call.prompt_tokens
        allowed = min(allowed, call.model.spec.max_output_tokens)
        if allowed < 1:
            raise InsufficientQuota(
                "Not enough tokens left for any completion", links=self.reservations.refill
            )
        key = "max_completion_tokens" if "max_completion_tokens" in call.body else "max_tokens"
        call.body[key] = allowed

    async def _settle_unused(self, call: Call, exc: BaseException) -> None:
        hold = call.hold
        if hold is None or call.recorded:
            return  # no hold, or the call's real usage is already on its way
        message = exc.detail if isinstance(exc, ProxyError) else type(exc).__name__
        # Recording gives a leased call's share back to its lease, here, with no round trip.
        record = call.record(Usage(0, 0), status="failed", usage_reported=False, error=message)
        if hold.lease is None:
            await asyncio.shield(self.reservations.release(hold, call.principal.token))
        await asyncio.shield(self.recorder.record(record))

    async def _call_upstream(self, call: Call) -> Response:
        supported = [d for d in call.model.deployments if self.upstreams.supports(d, call.endpoint)]
        candidates = self.health.order(supported)
        last: RetryableFailure | None = None
        for deployment in candidates[: self.settings.max_attempts]:
            call.attempts += 1
            call.deployment = deployment
            provider = deployment.provider.name
            try:
                if call.stream:
                    response = await self._stream(call, deployment)
                else:
                    response = await self._complete(call, deployment)
                UPSTREAM_ATTEMPTS.labels(provider, "ok").inc()
                return response
            except UpstreamRejected:
                UPSTREAM_ATTEMPTS.labels(provider, "rejected").inc()
                raise
            except RetryableFailure as failure:
                UPSTREAM_ATTEMPTS.labels(provider, "retryable").inc()
                log.warning(
                    "deployment %s failed (attempt %d): %s", deployment.key, call.attempts, failure
                )
                self.health.failed(deployment, failure.retry_after)
                last = failure
        call.deployment = None
        if last is not None and last.status == 429:
            raise UpstreamRateLimited(
                "Every provider of this model is rate-limiting; try again shortly",
                headers={"Retry-After": str(max(1, int(last.retry_after or 1)))},
            )
        # Why each deployment failed is in the log above; it names hosts the caller must not see.
        raise UpstreamUnavailable(
            f"No provider could serve {call.model.id} right now; try again shortly"
        )

    async def _open(self, call: Call, deployment: Deployment) -> aiohttp.ClientResponse:
        adapter = self.upstreams.adapter(deployment)
        request = adapter.prepare(call.endpoint, call.body, deployment, call.stream)
        session = self.upstreams.session(deployment)
        try:
            async with asyncio.timeout(self.settings.first_byte_timeout):
                response = await session.post(
                    request.url, data=request.payload, headers=request.headers
                )
        except TimeoutError as exc:
            raise RetryableFailure("no answer in time") from exc
        except aiohttp.ClientError as exc:
            raise RetryableFailure(f"{type(exc).__name__}: {exc}") from exc
        if response.status < 300:
            opened: aiohttp.ClientResponse = response
            return opened
        try:
            body = await response.content.read(MAX_ERROR_BODY)
        except (aiohttp.ClientError, TimeoutError):
            body = b""
        finally:
            response.close()
        message = _upstream_message(body) or f"upstream answered {response.status}"
        if response.status >= 500 or response.status in RETRYABLE_STATUS:
            raise RetryableFailure(message, response.status, _retry_after(response))
        raise UpstreamRejected(message)

    async def _complete(self, call: Call, deployment: Deployment) -> Response:
        response = await self._open(call, deployment)
        try:
            async with asyncio.timeout(self.settings.request_timeout):
                raw = await response.read()
            reply = orjson.loads(raw)
            if not isinstance(reply, dict):
                raise ValueError("not an object")
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise RetryableFailure(f"unreadable answer: {type(exc).__name__}") from exc
        finally:
            response.release()
        call.mark_first_token()
        body, reported, text = self.upstreams.adapter(deployment).read_reply(
            call.endpoint, reply, call.model.id
        )
        self.health.succeeded(deployment)
        usage = call.billed_usage(reported, text, complete=True)
        if reported is None:
            # Answer with the figures we bill, so the client sees the same numbers.
            body["usage"] = {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            }
        record = call.record(
            usage, status="succeeded", usage_reported=reported is not None, completion_text=text
        )
        await asyncio.shield(self.recorder.record(record))
        return Response(
            orjson.dumps(body),
            media_type="application/json",
            headers=self._balance_header(call, usage),
        )

    async def _stream(self, call: Call, deployment: Deployment) -> Response:
        response = await self._open(call, deployment)
        adapter = self.upstreams.adapter(deployment)
        translator = adapter.translator(call.endpoint, call.model.id, call.client_wants_usage)
        events = sse_events(response.content, self.settings.idle_stream_timeout)
        frames: list[bytes] = []
        # Nothing has reached the client yet: read until the first frame we can pass on,
        # so a stream that breaks at once still fails over to the next deployment.
        try:
            async with asyncio.timeout(self.settings.first_byte_timeout):
                while not frames:
                    event, data = await anext(events)
                    frames = translator.feed(event, data)
                    if translator.state.error is not None:
                        raise RetryableFailure(translator.state.error)
                    if translator.state.finished:
                        break
        except Exception as exc:  # timeouts, broken connections, an early end: all retryable
            response.close()
            if isinstance(exc, RetryableFailure):
                raise
            raise RetryableFailure(f"stream broke before its first event: {exc!r}") from exc
        call.mark_first_token()
        self.health.succeeded(deployment)

        def on_outcome(ok: bool) -> None:
            if not ok:
                self.health.failed(deployment)

        pump = StreamPump(
            call,
            response,
            events,
            translator,
            frames,
            record=self.recorder.record,
            on_outcome=on_outcome,
            drain_seconds=self.settings.disconnect_drain_seconds,
            tasks=self.tasks,
        )
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        if call.hold is not None:
            # The final figure is not known yet; this is the balance with the hold taken.
            headers[BALANCE_HEADER] = str(call.hold.available)
        return StreamingResponse(pump.frames(), media_type="text/event-stream", headers=headers)

    @staticmethod
    def _balance_header(call: Call, usage: Usage) -> dict[str, str]:
        hold = call.hold
        if hold is None:
            return {}
        if hold.lease is not None:
            # The call has given its unused share back: the balance as the lease knows it.
            return {BALANCE_HEADER: str(hold.lease.balance())}
        remaining = hold.remaining_after(usage.prompt_tokens, usage.completion_tokens)
        return {BALANCE_HEADER: str(remaining)}


def _upstream_message(body: bytes) -> str | None:
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body[:300].decode("utf-8", "replace").strip()
        return text or None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or "upstream error")
    if isinstance(error, str):
        return error
    return None


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None
