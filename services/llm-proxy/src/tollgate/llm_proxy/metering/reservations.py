"""Holds at usage: reserve before the upstream call, release when it failed before any token,
shrink a lease once its calls are known.

Settlement itself travels as a ``usage.recorded`` event through our outbox; this
client only makes the synchronous part of the contract with usage, and is its one
client of the reservation routes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
import orjson

from tollgate.llm_proxy.errors import (
    HoldAnswerLost,
    InsufficientQuota,
    MeteringUnavailable,
    ModelNotPriced,
    RefillLinks,
    SpendingRefused,
    UsageRateLimited,
)
from tollgate.llm_proxy.metrics import HOLD_SECONDS
from tollgate.shared.credits import Price, charge
from tollgate.shared.service_tokens import ServiceTokenClient

if TYPE_CHECKING:
    from tollgate.llm_proxy.metering.leases import Lease

__all__ = ["Hold", "LeaseAsk", "LeaseTerms", "ReservationClient", "Shrunk"]

log = logging.getLogger("tollgate.llm_proxy.reservations")
# Failures that happen before a request is written: usage cannot have made a hold.
NEVER_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
# Usage's answers while it cannot decide (starting, its database away): ask again.
UNAVAILABLE = frozenset({502, 503, 504})
RETRY_FIRST_PAUSE = 0.05  # seconds; doubled after each failed attempt, up to the longest
RETRY_LONGEST_PAUSE = 0.4


@dataclass(frozen=True)
class LeaseAsk:
    """Room wanted beyond the call's own hold, so the caller's next calls need no hold."""

    credits: int
    tokens: int  # raw tokens (prompt + most completion) for tokens per minute
    calls: int
    seconds: int  # how long calls may start from the lease


@dataclass(frozen=True)
class LeaseTerms:
    """What usage granted: whole budgets, the asking call's own share included."""

    credits: int
    tokens: int
    calls: int
    use_until: datetime
    default_completion_tokens: int
    tokens_per_minute: int | None


class Shrunk(Enum):
    DONE = "done"  # usage applied it, or has nothing left to shrink
    RETRY = "retry"  # usage was out of reach: the next attempt may do better


@dataclass(frozen=True)
class Hold:
    reservation_id: uuid.UUID
    account_id: str
    held_tokens: int  # credits, priced by usage (the name is older than prices)
    max_completion_tokens: int | None
    available: int  # the balance once this hold is taken
    # The price usage will charge the call at, credits per million input / output tokens.
    input_per_million: int | None = None
    output_per_million: int | None = None
    # The grant when this call asked for a lease and usage answered with one.
    terms: LeaseTerms | None = None
    # The lease this call spends from (its id is reservation_id), and the raw tokens
    # (prompt + most completion) the call counts in it until it finishes.
    lease: Lease | None = None
    raw_tokens: int = 0

    def remaining_after(self, prompt_tokens: int, completion_tokens: int) -> int:
        """The balance once the hold is committed with what the call used.

        The same figure usage's ledger will reach: the call's tokens at the hold's
        price, by the one rule (``shared.credits.charge``).
        """
        if self.input_per_million is None or self.output_per_million is None:
            spent = prompt_tokens + completion_tokens
        else:
            price = Price(self.input_per_million, self.output_per_million)
            spent = charge(price, prompt_tokens, completion_tokens)
        return max(0, self.available + self.held_tokens - spent)


class ReservationClient:
    def __init__(
        self,
        usage_url: str,
        tokens: ServiceTokenClient,
        http: aiohttp.ClientSession,
        *,
        refill: RefillLinks,
        timeout: float = 5.0,
        retry_seconds: float = 10.0,
    ) -> None:
        self.base = usage_url.rstrip("/") + "/internal/reservations"
        self.refill = refill
        self.tokens = tokens
        self.http = http
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.retry_seconds = retry_seconds
        # Set when usage refused the lease part of a request as unknown to it.
        self.leases_unknown = False

    async def _headers(self, user_token: str, service_token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {service_token}",
            "X-User-Token": user_token,
            "Content-Type": "application/json",
        }

    async def reserve(
        self,
        *,
        user_token: str,
        request_id: str,
        model: str,
        prompt_tokens: int,
        max_completion_tokens: int | None,
        ttl_seconds: int | None,
        lease: LeaseAsk | None = None,
    ) -> Hold:
        """A hold for the call (with a lease's terms when one was asked), or
        InsufficientQuota (402), SpendingRefused (403), UsageRateLimited (429),
        MeteringUnavailable (503)."""
        asked = time.perf_counter()
        try:
            return await self._reserve(
                user_token,
                request_id,
                model,
                prompt_tokens,
                max_completion_tokens,
                ttl_seconds,
                lease,
            )
        finally:
            HOLD_SECONDS.observe(time.perf_counter() - asked)

    async def _reserve(
        self,
        user_token: str,
        request_id: str,
        model: str,
        prompt_tokens: int,
        max_completion_tokens: int | None,
        ttl_seconds: int | None,
        lease: LeaseAsk | None,
    ) -> Hold:
        request: dict[str, Any] = {
            "request_id": request_id,
            "model": model,
            "prompt_tokens": prompt_tokens,
            "max_completion_tokens": max_completion_tokens,
            "ttl_seconds": ttl_seconds,
        }
        if lease is not None and not self.leases_unknown:
            request["lease"] = {
                "credits": lease.credits,
                "tokens": lease.tokens,
                "calls": lease.calls,
                "seconds": lease.seconds,
            }
        payload = orjson.dumps(request)
        # Reservations are idempotent by request_id: asking again after a lost answer gets
        # the same hold back, so usage restarting (a refused connection, a connection it
        # dropped, its 503 while its database is away) is waited out, up to retry_seconds.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_seconds
        pause = RETRY_FIRST_PAUSE
        maybe_held = renewed = False
        while True:
            try:
                service_token = await self.tokens.token()
                status, body, retry_after = await self._post(
                    self.base, payload, user_token, service_token
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                # Only a connection never made proves usage did not see the request.
                maybe_held = maybe_held or not isinstance(exc, NEVER_SENT)
                if loop.time() + pause > deadline:
                    lost = HoldAnswerLost if maybe_held else MeteringUnavailable
                    raise lost("Token metering is unreachable; try again") from exc
                await asyncio.sleep(pause)
                pause = min(2 * pause, RETRY_LONGEST_PAUSE)
                continue
            if status == 401 and not renewed:
                # Our service token was refused (auth rotated keys?): fetch a new one, ask again.
                log.warning("usage refused our service token, renewing it: %s", body.get("detail"))
                self.tokens.forget(service_token)
                renewed = True
                continue
            if status == 422 and "lease" in request and _refuses_lease(body):
                # A usage older than leases: no hold was made, so the same request_id is
                # asked again as a plain hold, and no lease is asked of it again.
                log.warning("usage does not know leases; holds are asked per call")
                self.leases_unknown = True
                del request["lease"]
                payload = orjson.dumps(request)
                continue
            if status in UNAVAILABLE and loop.time() + pause <= deadline:
                await asyncio.sleep(pause)
                pause = min(2 * pause, RETRY_LONGEST_PAUSE)
                continue
            break
        if status == 402:
            available = int(body.get("available", 0) or 0)
            raise InsufficientQuota(
                f"Not enough tokens for this request ({available} available)",
                links=self.refill,
                extra={"available": available},
            )
        # Usage's reason (its problem type's last segment) is kept for the caller.
        reason = str(body.get("type") or "").rstrip("/").rsplit("/", 1)[-1].replace("-", "_")
        if status == 403:
            raise SpendingRefused(
                str(body.get("detail") or "This caller may not spend tokens"), code=reason or None
            )
        if status == 429:
            kept = ("tokens_per_minute", "requested_tokens", "daily_requests")
            raise UsageRateLimited(
                str(body.get("detail") or "Rate limit reached"),
                extra={"reason": reason, **{k: body[k] for k in kept if k in body}},
                headers={"Retry-After": retry_after or "1"},
            )
        if status == 422 and str(body.get("type") or "").endswith("/model-not-priced"):
            raise ModelNotPriced(
                f"The model '{model}' has no price yet, so it cannot be called; "
                "choose another model",
                param="model",
            )
        if status not in (200, 201):
            log.warning("usage refused a reservation: %s %s", status, body)
            # An earlier asking whose answer was lost may have left a hold: settle it.
            lost = HoldAnswerLost if maybe_held else MeteringUnavailable
            raise lost(f"Token metering answered {status}")
        return Hold(
            reservation_id=uuid.UUID(str(body["reservation_id"])),
            account_id=str(body.get("account_id", "")),
            held_tokens=int(body["held_tokens"]),
            max_completion_tokens=(
                int(body["max_completion_tokens"])
                if body.get("max_completion_tokens") is not None
                else None
            ),
            available=int(body.get("available", 0)),
            input_per_million=_optional_int(body.get("input_per_million")),
            output_per_million=_optional_int(body.get("output_per_million")),
            terms=_lease_terms(body.get("lease")),
        )

    async def release(self, hold: Hold, user_token: str) -> None:
        """Best effort: the 0-token usage.recorded settles the hold anyway."""
        url = f"{self.base}/{hold.reservation_id}/release"
        try:
            service_token = await self.tokens.token()
            status, body, _ = await self._post(url, b"{}", user_token, service_token)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("release of %s failed: %s", hold.reservation_id, exc)
            return
        if status >= 300:
            log.warning("release of %s answered %s %s", hold.reservation_id, status, body)

    async def shrink(
        self,
        reservation_id: uuid.UUID,
        user_token: str,
        *,
        credits: int,
        tokens: int,
        calls: int,
        final: bool,
    ) -> Shrunk:
        """Tell usage what a lease has spent or may still spend; one attempt.

        A shrink is idempotent and only ever lowers the lease, so a failed one is
        simply sent again later (by the lease book's next pass); usage's expiry of
        the lease is the last resort.
        """
        url = f"{self.base}/{reservation_id}/shrink"
        payload = orjson.dumps(
            {"credits": credits, "tokens": tokens, "calls": calls, "final": final}
        )
        try:
            service_token = await self.tokens.token()
            status, body, _ = await self._post(url, payload, user_token, service_token)
            if status == 401:
                log.warning("usage refused our service token, renewing it: %s", body.get("detail"))
                self.tokens.forget(service_token)
                service_token = await self.tokens.token()
                status, body, _ = await self._post(url, payload, user_token, service_token)
        except (aiohttp.ClientError, TimeoutError, httpx.HTTPError) as exc:
            # Usage, or auth for our service token, out of reach.
            log.warning("shrink of lease %s failed: %s", reservation_id, exc)
            return Shrunk.RETRY
        if status in UNAVAILABLE or status == 401:
            log.warning("shrink of lease %s answered %s %s", reservation_id, status, body)
            return Shrunk.RETRY
        if status >= 300:
            # Unknown to usage (404) or not a lease of this user (409): nothing to give back.
            log.warning("shrink of lease %s refused: %s %s", reservation_id, status, body)
        return Shrunk.DONE

    async def _post(
        self, url: str, payload: bytes, user_token: str, service_token: str
    ) -> tuple[int, dict[str, Any], str | None]:
        """Status, JSON body and ``Retry-After`` of usage's answer."""
        headers = await self._headers(user_token, service_token)
        async with self.http.post(url, data=payload, headers=headers, timeout=self.timeout) as resp:
            raw = await resp.read()
            try:
                body = orjson.loads(raw) if raw else {}
            except orjson.JSONDecodeError:
                body = {"raw": raw[:200].decode("utf-8", "replace")}
            answer = body if isinstance(body, dict) else {}
            return resp.status, answer, resp.headers.get("Retry-After")


def _optional_int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _refuses_lease(body: dict[str, Any]) -> bool:
    """Usage's validation error for a request body naming the ``lease`` field."""
    return str(body.get("type") or "").endswith("/validation-error") and str(
        body.get("detail") or ""
    ).startswith("lease")


def _lease_terms(part: Any) -> LeaseTerms | None:
    if not isinstance(part, dict):
        return None
    return LeaseTerms(
        credits=int(part["credits"]),
        tokens=int(part["tokens"]),
        calls=int(part["calls"]),
        use_until=datetime.fromisoformat(str(part["use_until"]).replace("Z", "+00:00")),
        default_completion_tokens=int(part["default_completion_tokens"]),
        tokens_per_minute=_optional_int(part.get("tokens_per_minute")),
    )
