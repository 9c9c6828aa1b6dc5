"""Leases: one hold at usage that serves many calls of a busy caller.

A hold per call costs a round trip to usage and one of its transactions, half of
what the proxy adds to a call. A caller whose previous call (same user, org and
model) started less than ``LEASE_SECONDS`` ago asks for its call's hold plus room
for ``LEASE_CALLS`` more; its next calls are sized here by usage's own rule
(``shared.credits``) and taken from that room in memory:

    lone call ─────────────────────────────► plain hold, as without leases
    busy caller, no lease that covers it ──► retire the old lease (shrink),
                                             ask hold + room (one asking per caller)
    busy caller, lease covers it ──────────► spent here: no round trip
    lease three quarters used ─────────────► its next lease asked in the background;
                                             the old one is retired once it arrives
                                             (twice as many calls, if its calls used
                                             it up: ``LEASE_MOST_CALLS`` at most)
    call ends ─────────────────────────────► what it did not use goes back to the lease
    idle, past use_until, or retired ──────► final shrink once no call is in flight

Every call is still recorded and settled one by one (``usage.recorded``, with the
lease's id as its reservation); a shrink only tells usage what the lease may still
need, so the unspent part goes back to the balance early. Shrinks are idempotent
and only ever lower a lease, so one that is lost is sent again by the next pass,
and usage's expiry of the lease is the last resort.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from tollgate.llm_proxy.errors import MeteringUnavailable
from tollgate.llm_proxy.metering.reservations import (
    Hold,
    LeaseAsk,
    ReservationClient,
    Shrunk,
)
from tollgate.shared.credits import InsufficientTokens, Price, charge, completion_cap, size_hold
from tollgate.shared.errors import TollgateError
from tollgate.shared.periodic import Periodic
from tollgate.shared.security import Principal

__all__ = ["Lease", "LeaseBook"]

log = logging.getLogger("tollgate.llm_proxy.leases")
# How often idle and expired leases are looked for, and failed shrinks sent again.
SWEEP_SECONDS = 0.25
# A lease this far used (calls, credits, tokens or time) has its successor asked for in
# the background, so that no call of a busy caller waits for usage.
RENEW_AT = 0.75
# The bounds of usage's lease ask.
MOST_CREDITS_ASKED = 10**12
MOST_TOKENS_ASKED = 10**9

# (user, org, model): one caller's calls to one model share a price and limits.
LeaseKey = tuple[uuid.UUID | str, uuid.UUID | None, str]


@dataclass(eq=False)
class Lease:
    """One lease's budgets and what its calls have taken from them.

    ``spent_*`` counts finished calls at what they really used and calls in flight
    at what they were sized: exactly what a shrink reports to usage.
    """

    reservation_id: uuid.UUID
    account_id: str
    user_token: str  # the latest caller's token, for the shrink
    price: Price
    credits: int
    tokens: int
    calls: int
    default_cap: int
    per_minute: int | None
    available: int  # the balance outside the lease when usage granted it
    use_until: float  # monotonic clock: no call starts from it after this
    expires: float  # monotonic clock: usage has returned it by then anyway
    spent_credits: int
    spent_tokens: int
    started: int = 1
    in_flight: int = 1
    last_start: float = 0.0
    granted_at: float = 0.0
    renewing: bool = False  # its successor has been asked for

    def nearly_used(self, now: float) -> bool:
        """Three quarters of a budget or of its time gone: time to ask for the next."""
        return (
            self.started >= self.calls * RENEW_AT
            or self.spent_credits >= self.credits * RENEW_AT
            or self.spent_tokens >= self.tokens * RENEW_AT
            or now >= self.granted_at + (self.use_until - self.granted_at) * RENEW_AT
        )

    def spend(
        self, prompt_tokens: int, max_completion_tokens: int | None, now: float
    ) -> Hold | None:
        """The call's hold taken from the lease, or None when the lease cannot cover it."""
        if now >= self.use_until or self.started >= self.calls:
            return None
        cap = completion_cap(self.default_cap, self.per_minute, prompt_tokens)
        try:
            size = size_hold(
                self.price,
                prompt_tokens,
                max_completion_tokens,
                self.credits - self.spent_credits,
                cap,
            )
        except (InsufficientTokens, ValueError):
            return None  # usage decides (and explains) what the lease cannot
        raw = prompt_tokens + size.max_completion_tokens
        if raw > self.tokens - self.spent_tokens:
            return None
        self.spent_credits += size.held_credits
        self.spent_tokens += raw
        self.started += 1
        self.in_flight += 1
        self.last_start = now
        return Hold(
            reservation_id=self.reservation_id,
            account_id=self.account_id,
            held_tokens=size.held_credits,
            max_completion_tokens=size.max_completion_tokens,
            available=self.balance(),
            input_per_million=self.price.input_per_million,
            output_per_million=self.price.output_per_million,
            lease=self,
            raw_tokens=raw,
        )

    def finish(self, hold: Hold, prompt_tokens: int, completion_tokens: int) -> None:
        """The call ended having used this much: the rest of its share goes back."""
        self.spent_credits += (
            charge(self.price, prompt_tokens, completion_tokens) - hold.held_tokens
        )
        self.spent_tokens += prompt_tokens + completion_tokens - hold.raw_tokens
        self.in_flight -= 1

    def balance(self) -> int:
        """The caller's balance as far as this lease knows: outside it, plus its unspent part."""
        return self.available + max(0, self.credits - self.spent_credits)


@dataclass(eq=False)
class Caller:
    """What the book keeps of one key between its calls."""

    last_start: float = -math.inf
    lease: Lease | None = None
    # Set while one call asks usage for this key's lease; the others wait for it.
    # Its result is the outage that refused the asking, if that is how it ended.
    asking: asyncio.Future[MeteringUnavailable | None] | None = None
    price: Price | None = None
    completion_guess: int = 0  # the last hold's completion, to size an ask without max_tokens
    # Calls its next lease asks room for: the book's base, doubled while its calls keep
    # using leases up before their time, back to the base once a lease idles out.
    lease_calls: int = 0


class LeaseBook:
    def __init__(
        self,
        reservations: ReservationClient,
        *,
        calls: int,
        seconds: int,
        idle_seconds: float,
        ttl_seconds: int,
        most_calls: int | None = None,
    ) -> None:
        self.reservations = reservations
        self.calls = calls
        self.most_calls = max(calls, most_calls or calls)
        self.seconds = seconds
        self.idle_seconds = idle_seconds
        self.ttl_seconds = ttl_seconds
        self.callers: dict[LeaseKey, Caller] = {}
        # Retired leases whose final shrink usage has not had yet.
        self.retiring: list[Lease] = []
        self.sweeper = Periodic("lease-sweeper", self.sweep, SWEEP_SECONDS, wait_first=True)
        self.renewals: set[asyncio.Task[None]] = set()
        # Raised by every price change: a lease asked before one is not put to use.
        self.prices_seen = 0

    def spend(
        self,
        principal: Principal,
        model: str,
        prompt_tokens: int,
        max_completion_tokens: int | None,
    ) -> Hold | None:
        """The call's hold from its caller's lease when that covers it: no I/O, no await."""
        caller = self.callers.get((principal.sub, principal.org, model))
        if caller is None or caller.lease is None:
            return None
        now = time.monotonic()
        lease = caller.lease
        hold = lease.spend(prompt_tokens, max_completion_tokens, now)
        if hold is not None:
            caller.last_start = now
            lease.user_token = principal.token
            if not lease.renewing and caller.asking is None and lease.nearly_used(now):
                lease.renewing = True
                self._resize(caller, lease, now)
                self._start_renewal(caller, principal, model, prompt_tokens, max_completion_tokens)
        return hold

    async def hold(
        self,
        principal: Principal,
        model: str,
        request_id: str,
        prompt_tokens: int,
        max_completion_tokens: int | None,
    ) -> Hold:
        """The call's hold when its caller's lease could not cover it: a plain hold for a
        lone call, else a new lease (asked once for all the caller's waiting calls)."""
        caller = self.callers.setdefault((principal.sub, principal.org, model), Caller())
        while caller.asking is not None:
            refused = await asyncio.shield(caller.asking)
            hold = self.spend(principal, model, prompt_tokens, max_completion_tokens)
            if hold is not None:
                return hold
            if refused is not None:
                # Usage stayed out of reach for the whole asking this call waited on.
                raise MeteringUnavailable(refused.detail)

        def reserve(lease: LeaseAsk | None) -> Coroutine[Any, Any, Hold]:
            return self.reservations.reserve(
                user_token=principal.token,
                request_id=request_id,
                model=model,
                prompt_tokens=prompt_tokens,
                max_completion_tokens=max_completion_tokens,
                ttl_seconds=self.ttl_seconds,
                lease=lease,
            )

        now = time.monotonic()
        busy = now - caller.last_start < self.seconds
        caller.last_start = now
        if not busy:
            hold = await reserve(None)
            self._learn(caller, hold)
            return hold
        asking: asyncio.Future[MeteringUnavailable | None] = (
            asyncio.get_running_loop().create_future()
        )
        caller.asking = asking
        outage: MeteringUnavailable | None = None
        try:
            old = caller.lease
            if old is not None:
                # Usage sees what is really left before it decides on the new lease.
                caller.lease = None
                await self._retire(old)
            ask = self._ask(caller, prompt_tokens, max_completion_tokens)
            hold = await reserve(ask)
            return self._open(caller, hold, principal, prompt_tokens)
        except MeteringUnavailable as exc:
            outage = exc
            raise
        finally:
            _answer(caller, asking, outage)

    def _start_renewal(
        self,
        caller: Caller,
        principal: Principal,
        model: str,
        prompt_tokens: int,
        max_completion_tokens: int | None,
    ) -> None:
        # Set now, not when the task first runs: a call the old lease cannot cover in
        # between must wait for this asking, not ask beside it.
        asking: asyncio.Future[MeteringUnavailable | None] = (
            asyncio.get_running_loop().create_future()
        )
        caller.asking = asking
        task = asyncio.create_task(
            self._renew(caller, asking, principal, model, prompt_tokens, max_completion_tokens),
            name="lease-renewal",
        )
        self.renewals.add(task)
        task.add_done_callback(self.renewals.discard)
        task.add_done_callback(lambda _: _answer(caller, asking, None))  # if it never ran

    async def _renew(
        self,
        caller: Caller,
        asking: asyncio.Future[MeteringUnavailable | None],
        principal: Principal,
        model: str,
        prompt_tokens: int,
        max_completion_tokens: int | None,
    ) -> None:
        """Ask for the caller's next lease while its calls still spend from this one.

        The ask is sized on the call that found the lease nearly used, under a request
        id of its own that no call will report: usage holds that share with the room, and
        the lease's shrinks give back whatever no call took. Calls that the old lease
        cannot cover meanwhile wait for this asking. If usage says no (the old lease may
        hold what the new one needs), nothing changes: the next call the old lease cannot
        cover retires it first and asks again, as without renewals.
        """
        outage: MeteringUnavailable | None = None
        prices_seen = self.prices_seen
        try:
            hold = await self.reservations.reserve(
                user_token=principal.token,
                request_id=f"lease-renewal-{uuid.uuid4()}",
                model=model,
                prompt_tokens=prompt_tokens,
                max_completion_tokens=max_completion_tokens,
                ttl_seconds=self.ttl_seconds,
                lease=self._ask(caller, prompt_tokens, max_completion_tokens),
            )
            lease = self._lease(caller, hold, principal, first_call=None)
            if lease is None:
                # Usage answered with a plain hold, which no call will report.
                await self.reservations.release(hold, principal.token)
            elif prices_seen != self.prices_seen:
                self.retiring.append(lease)  # sized at prices no longer in force
            else:
                self._install(caller, lease)
        except MeteringUnavailable as exc:
            outage = exc
        except TollgateError as exc:  # a refusal: the next uncovered call asks in the open
            log.info("renewing the lease of %s for %s was refused: %s", principal.sub, model, exc)
        except Exception:
            log.exception("renewing the lease of %s for %s failed", principal.sub, model)
        finally:
            _answer(caller, asking, outage)

    def _ask(
        self, caller: Caller, prompt_tokens: int, max_completion_tokens: int | None
    ) -> LeaseAsk:
        completion = (
            max_completion_tokens if max_completion_tokens is not None else caller.completion_guess
        )
        # Without a price seen yet, the lease asks for calls and tokens only.
        credits = 0 if caller.price is None else charge(caller.price, prompt_tokens, completion)
        calls = self._calls_of(caller)
        return LeaseAsk(
            credits=min(calls * credits, MOST_CREDITS_ASKED),
            tokens=min(calls * (prompt_tokens + completion), MOST_TOKENS_ASKED),
            calls=calls,
            seconds=self.seconds,
        )

    def _calls_of(self, caller: Caller) -> int:
        return caller.lease_calls or self.calls

    def _resize(self, caller: Caller, lease: Lease, now: float) -> None:
        """The size of the caller's next lease, from how this one came to be nearly used.

        Used up by its calls: twice the calls, so a busy caller asks usage half as
        often (usage still grants no more than half of what the balance leaves, so
        other callers and workers keep their room). Used up by its time: half, back
        towards the base, so a slower caller holds no more than its pace needs.
        """
        calls = self._calls_of(caller)
        if lease.started >= lease.calls * RENEW_AT:
            caller.lease_calls = min(2 * calls, self.most_calls)
        elif now >= lease.granted_at + (lease.use_until - lease.granted_at) * RENEW_AT:
            caller.lease_calls = max(calls // 2, self.calls)

    @staticmethod
    def _learn(caller: Caller, hold: Hold) -> None:
        if hold.input_per_million is not None and hold.output_per_million is not None:
            caller.price = Price(hold.input_per_million, hold.output_per_million)
        caller.completion_guess = hold.max_completion_tokens or 0

    def _open(self, caller: Caller, hold: Hold, principal: Principal, prompt_tokens: int) -> Hold:
        """The lease usage granted, with the asking call as its first call."""
        self._learn(caller, hold)
        price = caller.price
        completion = hold.max_completion_tokens or 0
        # The asking call's own share, sized by usage with the same rule.
        own = 0 if price is None else charge(price, prompt_tokens, completion)
        lease = self._lease(caller, hold, principal, first_call=(own, prompt_tokens + completion))
        if lease is None:
            return hold  # usage answered with a plain hold
        self._install(caller, lease)
        return replace(
            hold,
            held_tokens=own,
            available=lease.balance(),
            lease=lease,
            raw_tokens=prompt_tokens + completion,
        )

    def _install(self, caller: Caller, lease: Lease) -> None:
        """The caller's lease from now on; the one it replaces (if any) is retired,
        shrunk final once its calls have ended: no lease is ever dropped unshrunk."""
        if caller.lease is not None:
            self.retiring.append(caller.lease)
        caller.lease = lease

    def _lease(
        self,
        caller: Caller,
        hold: Hold,
        principal: Principal,
        *,
        first_call: tuple[int, int] | None,
    ) -> Lease | None:
        """The lease usage granted, with its asking call's credits and tokens (if a call
        asked) already spent; None when usage answered with a plain hold."""
        self._learn(caller, hold)
        terms, price = hold.terms, caller.price
        if terms is None or price is None:
            return None
        now = time.monotonic()
        granted_for = (terms.use_until - datetime.now(UTC)).total_seconds()
        spent_credits, spent_tokens = first_call or (0, 0)
        asking_call = 0 if first_call is None else 1
        return Lease(
            reservation_id=hold.reservation_id,
            account_id=hold.account_id,
            user_token=principal.token,
            price=price,
            credits=terms.credits,
            tokens=terms.tokens,
            calls=terms.calls,
            default_cap=terms.default_completion_tokens,
            per_minute=terms.tokens_per_minute,
            available=hold.available,
            use_until=now + min(self.seconds, granted_for),
            expires=now + self.seconds + self.ttl_seconds,
            spent_credits=spent_credits,
            spent_tokens=spent_tokens,
            started=asking_call,
            in_flight=asking_call,
            last_start=now,
            granted_at=now,
        )

    async def _retire(self, lease: Lease) -> None:
        if not await self._shrink(lease):
            self.retiring.append(lease)  # final once its calls end, or sent again

    async def _shrink(self, lease: Lease, *, final: bool | None = None) -> bool:
        """Tell usage what the lease still needs; True once usage has its final shrink."""
        final = lease.in_flight == 0 if final is None else final
        outcome = await self.reservations.shrink(
            lease.reservation_id,
            lease.user_token,
            credits=lease.spent_credits,
            tokens=lease.spent_tokens,
            calls=lease.started,
            final=final,
        )
        return final and outcome is Shrunk.DONE

    async def sweep(self) -> None:
        """Retire idle and used-up leases whose calls have ended, and send final shrinks."""
        now = time.monotonic()
        for key, caller in list(self.callers.items()):
            lease = caller.lease
            if lease is not None:
                idle = now - lease.last_start >= self.idle_seconds
                if lease.in_flight == 0 and (idle or now >= lease.use_until):
                    caller.lease = None
                    self.retiring.append(lease)
                    if idle:
                        caller.lease_calls = 0  # the burst is over: the next starts small
                elif now >= lease.expires:
                    caller.lease = None  # a call never ended; usage has given it back
            elif caller.asking is None and now - caller.last_start >= self.seconds:
                del self.callers[key]  # no longer busy: nothing worth keeping
        pending, self.retiring = self.retiring, []
        for lease in pending:
            if now >= lease.expires:
                continue  # usage's expiry has given it back already
            if lease.in_flight or not await self._shrink(lease):
                self.retiring.append(lease)

    def retire_all(self) -> None:
        """Prices changed: no call starts from a lease sized at the old ones. The sweeper
        shrinks them; usage charges every call at the price in force when it started."""
        self.prices_seen += 1
        for caller in self.callers.values():
            if caller.lease is not None:
                self.retiring.append(caller.lease)
                caller.lease = None
            caller.price = None

    def start(self) -> None:
        self.sweeper.start()

    async def close(self) -> None:
        """At shutdown, once calls have ended: every lease is shrunk final."""
        await self.sweeper.stop()
        # A renewal usage granted is retired with the rest, not left to expire there.
        await asyncio.gather(*self.renewals, return_exceptions=True)
        for caller in self.callers.values():
            if caller.lease is not None:
                self.retiring.append(caller.lease)
        self.callers.clear()
        pending, self.retiring = self.retiring, []
        await asyncio.gather(*(self._shrink(lease, final=True) for lease in pending))


def _answer(
    caller: Caller,
    asking: asyncio.Future[MeteringUnavailable | None],
    outage: MeteringUnavailable | None,
) -> None:
    """An asking is over: the calls waiting on it go on (or hear of the outage)."""
    if caller.asking is asking:
        caller.asking = None
    if not asking.done():
        asking.set_result(outage)
