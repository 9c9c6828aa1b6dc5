"""Deciding a group of reservations once its facts are read: no I/O here.

``reserve.reserve_group`` reads the facts (who pays, accounts, balances, daily
counts, cap spending, the tokens each member counted in the last minute, retried
request_ids, the models' prices) and hands them to ``decide``, so the rules of a hold
(a sub-user's permission, daily quota, balance, member caps, sizing at the model's
price, tokens per minute, retries of a request_id) live in this one place. Requests
are sized one after another against the balance the ones before them left.

A request may ask for a lease: its call's hold plus room for more calls of the same
caller and model, which llm-proxy then spends without asking again. The call is
decided exactly as a plain one first; the room added (``size_lease``) is at most
half of the credits left, and never more than the minute's tokens or the day's
requests allow, so a lease cannot let a caller past a limit a hold per call would
stop. ``shrink`` is how a lease gives back what its calls will not use.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from tollgate.shared.credits import completion_cap
from tollgate.shared.errors import (
    Conflict,
    Forbidden,
    PaymentRequired,
    TollgateError,
    TooManyRequests,
    UnprocessableEntity,
)
from tollgate.shared.security import Principal
from tollgate.usage.config import Settings
from tollgate.usage.ledger.domain import InsufficientTokens, Price, size_hold
from tollgate.usage.ledger.service import PlanFacts, account_limits
from tollgate.usage.ledger.store import HoldRow
from tollgate.usage.members.payer import Payer
from tollgate.usage.reservations.minute_window import MinuteWindow
from tollgate.usage.reservations.schemas import (
    LeaseAsk,
    LeaseOut,
    ReservationOut,
    ReservationRequest,
    ShrinkIn,
)

__all__ = [
    "AccountFacts",
    "Answer",
    "Ask",
    "Decisions",
    "HoldFacts",
    "LeaseRoom",
    "Shrunk",
    "daily_limit",
    "decide",
    "shrink",
    "size_lease",
    "tokens_per_minute",
]

Answer = ReservationOut | TollgateError


LLM_PERMISSION = "llm"


@dataclass(frozen=True)
class Ask:
    caller: Principal
    request: ReservationRequest


class AccountFacts(PlanFacts, Protocol):
    """What deciding needs of an account (a locked ``store.AccountRow``)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def deleted_at(self) -> datetime | None: ...


class HoldFacts(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def account_id(self) -> uuid.UUID: ...
    @property
    def user_id(self) -> uuid.UUID: ...
    @property
    def amount(self) -> int: ...
    @property
    def max_completion_tokens(self) -> int: ...
    @property
    def input_per_million(self) -> int: ...
    @property
    def output_per_million(self) -> int: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def lease_until(self) -> datetime | None: ...
    @property
    def lease_credits(self) -> int | None: ...
    @property
    def lease_tokens(self) -> int | None: ...
    @property
    def lease_calls(self) -> int | None: ...
    @property
    def lease_default_completion_tokens(self) -> int | None: ...
    @property
    def lease_tokens_per_minute(self) -> int | None: ...


@dataclass(frozen=True)
class LeaseRoom:
    """What a lease adds to its first call's hold (each at least 0)."""

    credits: int
    tokens: int  # raw tokens, for tokens per minute
    calls: int  # requests, for the daily quota


def size_lease(
    ask: LeaseAsk,
    *,
    room: int,
    held: int,
    minute_left: int | None,
    calls_left: int | None,
) -> LeaseRoom:
    """The room a lease gets beside its first call's ``held`` credits.

    ``room``: the credits the call was sized against (the available balance, lowered
    to a member's cap left); a lease takes at most half of what the call leaves, so
    other callers and llm-proxy's other workers still find room. ``minute_left``:
    the plan's tokens per minute less the window's count and the call's own raw
    tokens (None: no such limit); ``calls_left``: the day's requests left after this
    call (None: no daily quota).
    """
    return LeaseRoom(
        credits=max(0, min(ask.credits, (room - held) // 2)),
        tokens=ask.tokens if minute_left is None else max(0, min(ask.tokens, minute_left)),
        calls=ask.calls if calls_left is None else max(0, min(ask.calls, calls_left)),
    )


@dataclass(frozen=True)
class Shrunk:
    held: int  # credits the lease still holds
    calls: int  # requests it counts for the daily quota
    final: bool
    closes: bool  # final and nothing held: the lease is committed


def shrink(held: int, committed: int, calls: int, final: bool, told: ShrinkIn) -> Shrunk:
    """A lease after llm-proxy ``told`` what it spent or may still spend through it.

    Only ever lower: the credits its calls may still draw are what the proxy counts
    less what their settlements already took (they may arrive before or after this),
    so applying the same shrink again, or an older one late, changes nothing.
    """
    left = min(held, max(0, told.credits - committed))
    is_final = final or told.final
    return Shrunk(left, min(calls, told.calls), is_final, is_final and left == 0)


@dataclass
class Decisions:
    answers: list[Answer | None]
    new_holds: list[HoldRow] = field(default_factory=list)
    # The position of the first ask of each request_id that got a new hold.
    first_in_group: dict[str, int] = field(default_factory=dict)
    # Raw tokens each new hold counts against its member's tokens per minute.
    counted: dict[uuid.UUID, int] = field(default_factory=dict)

    def complete(self, asks: list[Ask]) -> list[Answer]:
        """Later asks of a request_id get the first one's answer (or 409 for another user)."""
        result: list[Answer] = []
        for i, ask in enumerate(asks):
            answer = self.answers[i]
            if answer is None:
                first = self.first_in_group[ask.request.request_id]
                same_user = asks[first].caller.user_id == ask.caller.user_id
                answer = self.answers[first] if same_user else conflict()
                assert answer is not None
            result.append(answer)
        return result


def daily_limit(account: AccountFacts) -> int | None:
    value = account_limits(account).get("daily_requests")
    return value if isinstance(value, int) and value > 0 else None


def tokens_per_minute(account: AccountFacts) -> int | None:
    value = account_limits(account).get("tokens_per_minute")
    return value if isinstance(value, int) and value > 0 else None


def minute_refusal(
    window: MinuteWindow, tokens: int, limit: int, now: datetime
) -> TooManyRequests | None:
    """429 when ``tokens`` more would take the member over the limit within the minute."""
    extra = {"tokens_per_minute": limit, "requested_tokens": tokens}
    if tokens > limit:
        return TooManyRequests(
            f"This call may use {tokens} tokens (prompt and most completion), more than "
            f"the plan's {limit} tokens per minute: lower max_tokens or shorten the prompt",
            type_slug="tokens-per-minute-exceeded",
            retry_after=60,
            extra=extra,
        )
    wait = window.wait_for(tokens, limit, now)
    if wait == 0:
        return None
    return TooManyRequests(
        f"Tokens-per-minute limit of {limit} reached: {window.used(now)} counted in the "
        f"last minute and this call may use {tokens}; retry in {wait} s",
        type_slug="tokens-per-minute-exceeded",
        retry_after=wait,
        extra=extra,
    )


def conflict() -> Conflict:
    return Conflict("This request_id belongs to another reservation", type_slug="duplicate-request")


def replay(hold: HoldFacts, user_id: uuid.UUID, balance: dict[uuid.UUID, int]) -> Answer:
    """A retried request_id gets its hold back, whatever the balance is now."""
    if hold.user_id != user_id:
        return conflict()
    return reservation_of(hold, max(0, balance.get(hold.account_id, 0)))


def model_not_priced(model: str) -> UnprocessableEntity:
    return UnprocessableEntity(
        f"{model} has no price yet, so no call to it can be reserved; "
        "an admin sets it at /api/admin/model-prices",
        type_slug="model-not-priced",
        extra={"model": model},
    )


def llm_not_permitted() -> Forbidden:
    return Forbidden(
        "This sub-user may not call the LLM: its parent account has not given it "
        "the llm permission",
        type_slug="llm-not-permitted",
    )


def reservation_of(hold: HoldFacts, available: int) -> ReservationOut:
    """The answer for a hold; for a lease, what it was granted (its calls may have
    drawn from it since)."""
    lease = lease_of(hold)
    return ReservationOut(
        reservation_id=hold.id,
        account_id=hold.account_id,
        held_tokens=hold.amount if lease is None else lease.credits,
        max_completion_tokens=hold.max_completion_tokens,
        available=available,
        expires_at=hold.expires_at,
        input_per_million=hold.input_per_million,
        output_per_million=hold.output_per_million,
        lease=lease,
    )


def lease_of(hold: HoldFacts) -> LeaseOut | None:
    if (
        hold.lease_until is None
        or hold.lease_credits is None
        or hold.lease_tokens is None
        or hold.lease_calls is None
        or hold.lease_default_completion_tokens is None
    ):
        return None
    return LeaseOut(
        credits=hold.lease_credits,
        tokens=hold.lease_tokens,
        calls=hold.lease_calls,
        use_until=hold.lease_until,
        default_completion_tokens=hold.lease_default_completion_tokens,
        tokens_per_minute=hold.lease_tokens_per_minute,
    )


def decide(
    settings: Settings,
    asks: list[Ask],
    payers: list[Payer],
    accounts: dict[uuid.UUID, AccountFacts],
    balance: dict[uuid.UUID, int],
    made_today: dict[tuple[uuid.UUID, uuid.UUID], int],
    cap_spent: dict[tuple[uuid.UUID, uuid.UUID], int],
    minute: dict[tuple[uuid.UUID, uuid.UUID], MinuteWindow],
    existing: Mapping[str, HoldFacts],
    prices: Mapping[str, Price],
    now: datetime,
) -> Decisions:
    """Answer each ask in order; ``balance``, ``made_today``, ``cap_spent`` and ``minute``
    are updated.

    ``balance`` is each account's available credits; ``cap_spent`` has an entry for
    every (account, user) whose payer has a cap; ``minute`` what each (account, user)
    counted in the last minute (raw tokens, not credits); ``existing`` the holds
    already made for these request_ids; ``prices`` each asked model's price in force
    (a model without one cannot be reserved).
    """
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    decisions = Decisions(answers=[None] * len(asks))
    answers = decisions.answers
    for i, (ask, payer) in enumerate(zip(asks, payers, strict=True)):
        request, user_id = ask.request, ask.caller.user_id
        if request.request_id in existing:
            answers[i] = replay(existing[request.request_id], user_id, balance)
            continue
        if request.request_id in decisions.first_in_group:
            continue  # answered by complete() with the hold of its first occurrence
        if payer.refusal is not None:
            answers[i] = payer.refusal
            continue
        permissions = payer.membership.permissions if payer.membership else None
        if permissions is not None and LLM_PERMISSION not in permissions:
            answers[i] = llm_not_permitted()
            continue
        price = prices.get(request.model)
        if price is None:
            answers[i] = model_not_priced(request.model)
            continue
        account = accounts[payer.account_id]
        if account.deleted_at is not None:
            answers[i] = Forbidden("This account has been deleted")
            continue
        limits = account_limits(account)
        pair = (account.id, user_id)
        daily = daily_limit(account)
        if daily is not None and made_today.get(pair, 0) >= daily:
            retry_after = int((midnight + timedelta(days=1) - now).total_seconds()) + 1
            answers[i] = TooManyRequests(
                f"Daily request quota of {daily} reached",
                type_slug="daily-quota-exceeded",
                retry_after=retry_after,
                extra={"daily_requests": daily},
            )
            continue
        room = max(0, balance[account.id])
        if payer.cap_tokens is not None:
            room = min(room, max(0, payer.cap_tokens - cap_spent.get(pair, 0)))
        plan_cap = int(
            limits.get("default_completion_tokens") or settings.default_completion_tokens
        )
        per_minute = tokens_per_minute(account)
        default_cap = completion_cap(plan_cap, per_minute, request.prompt_tokens)
        try:
            size = size_hold(
                price, request.prompt_tokens, request.max_completion_tokens, room, default_cap
            )
        except InsufficientTokens as exc:
            answers[i] = PaymentRequired(
                f"Not enough credits: {exc.available} available",
                extra={"available": exc.available, "account_id": str(account.id)},
            )
            continue
        except ValueError as exc:
            answers[i] = UnprocessableEntity(str(exc))
            continue
        raw_tokens = request.prompt_tokens + size.max_completion_tokens
        window = minute.setdefault(pair, MinuteWindow())
        if per_minute is not None:
            refusal = minute_refusal(window, raw_tokens, per_minute, now)
            if refusal is not None:
                answers[i] = refusal
                continue
        ttl = min(request.ttl_seconds or settings.hold_ttl_seconds, settings.max_hold_ttl_seconds)
        extra = LeaseRoom(0, 0, 0)
        # Only who spends from their own account gets a lease: an organization's member
        # or a sub-user spends on terms someone else sets (a cap, a permission, the
        # membership itself) and may change at any moment, so each call is decided now.
        lease = request.lease if payer.account_id == user_id else None
        if lease is not None:
            extra = size_lease(
                lease,
                room=room,
                held=size.held_credits,
                minute_left=None
                if per_minute is None
                else per_minute - window.used(now) - raw_tokens,
                calls_left=None if daily is None else daily - made_today.get(pair, 0) - 1,
            )
        amount, counted, calls = (
            size.held_credits + extra.credits,
            raw_tokens + extra.tokens,
            1 + extra.calls,
        )
        window.add(now, counted)
        balance[account.id] -= amount
        made_today[pair] = made_today.get(pair, 0) + calls
        if pair in cap_spent:
            cap_spent[pair] += amount
        decisions.first_in_group[request.request_id] = i
        hold = HoldRow(
            id=uuid.uuid4(),
            request_id=request.request_id,
            account_id=account.id,
            user_id=user_id,
            status="held",
            model=request.model,
            amount=amount,
            max_completion_tokens=size.max_completion_tokens,
            input_per_million=price.input_per_million,
            output_per_million=price.output_per_million,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
            calls=calls,
        )
        if lease is not None:
            use_until = now + timedelta(seconds=lease.seconds)
            hold = hold._replace(
                expires_at=hold.expires_at + timedelta(seconds=lease.seconds),
                lease_until=use_until,
                lease_credits=amount,
                lease_tokens=counted,
                lease_calls=calls,
                lease_default_completion_tokens=plan_cap,
                lease_tokens_per_minute=per_minute,
            )
        decisions.new_holds.append(hold)
        decisions.counted[hold.id] = counted
        answers[i] = reservation_of(hold, room - amount)
    return decisions
