"""Holding tokens for a call before it runs, and letting them go when it fails."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.errors import (
    Conflict,
    NotFound,
    PaymentRequired,
    TooManyRequests,
    UnprocessableEntity,
)
from tollgate.shared.security import Principal
from tollgate.usage.config import Settings
from tollgate.usage.ledger import repository as repo
from tollgate.usage.ledger.domain import InsufficientTokens, size_hold
from tollgate.usage.ledger.service import account_limits, available, ensure_current_period
from tollgate.usage.members.service import resolve_spender
from tollgate.usage.models import Hold
from tollgate.usage.reservations.schemas import ReleaseOut, ReservationOut, ReservationRequest

__all__ = ["release", "reserve"]


async def reserve(
    session: AsyncSession, settings: Settings, caller: Principal, request: ReservationRequest
) -> ReservationOut:
    user_id = caller.user_id
    now = datetime.now(UTC)
    spender = await resolve_spender(
        session,
        user_id,
        org=caller.org,
        parent=caller.parent,
        free_tokens=settings.free_monthly_tokens,
        now=now,
    )
    account = spender.account
    await ensure_current_period(session, account, now)
    limits = account_limits(account)
    try:
        await _check_daily_requests(session, account.id, user_id, limits.get("daily_requests"), now)
    except TooManyRequests:
        existing = await repo.find_hold(session, request.request_id)
        if existing is not None:
            return await _replay(session, existing, user_id)
        raise

    balance = await available(session, account.id, now)
    room = balance.available
    if spender.cap_tokens is not None:
        spent = await repo.member_spent(session, account.id, user_id, account.period_start, now)
        room = min(room, max(0, spender.cap_tokens - spent))
    default_cap = int(limits.get("default_completion_tokens") or settings.default_completion_tokens)
    try:
        size = size_hold(request.prompt_tokens, request.max_completion_tokens, room, default_cap)
    except InsufficientTokens as exc:
        # A retry of a request that was granted before must get its reservation back.
        existing = await repo.find_hold(session, request.request_id)
        if existing is not None:
            return await _replay(session, existing, user_id)
        raise PaymentRequired(
            f"Not enough tokens: {exc.available} available",
            extra={"available": exc.available, "account_id": str(account.id)},
        ) from exc
    except ValueError as exc:
        raise UnprocessableEntity(str(exc)) from exc

    ttl = min(request.ttl_seconds or settings.hold_ttl_seconds, settings.max_hold_ttl_seconds)
    hold_id = uuid.uuid4()
    expires_at = now + timedelta(seconds=ttl)
    inserted = await repo.insert_hold(
        session,
        {
            "id": hold_id,
            "request_id": request.request_id,
            "account_id": account.id,
            "user_id": user_id,
            "model": request.model,
            "amount": size.held_tokens,
            "max_completion_tokens": size.max_completion_tokens,
            "status": "held",
            "created_at": now,
            "expires_at": expires_at,
        },
    )
    if inserted is None:  # a retried request_id: answer with the reservation it already has
        raced = await repo.find_hold(session, request.request_id)
        assert raced is not None
        return await _replay(session, raced, user_id)
    return ReservationOut(
        reservation_id=hold_id,
        account_id=account.id,
        held_tokens=size.held_tokens,
        max_completion_tokens=size.max_completion_tokens,
        available=room - size.held_tokens,
        expires_at=expires_at,
    )


async def _replay(session: AsyncSession, hold: Hold, user_id: uuid.UUID) -> ReservationOut:
    """A retried request gets the reservation it already has, never a second one."""
    if hold.user_id != user_id:
        raise Conflict(
            "This request_id belongs to another reservation", type_slug="duplicate-request"
        )
    balance = await available(session, hold.account_id, datetime.now(UTC))
    return ReservationOut(
        reservation_id=hold.id,
        account_id=hold.account_id,
        held_tokens=hold.amount,
        max_completion_tokens=hold.max_completion_tokens,
        available=balance.available,
        expires_at=hold.expires_at,
    )


async def _check_daily_requests(
    session: AsyncSession,
    account_id: uuid.UUID,
    user_id: uuid.UUID,
    daily_requests: object,
    now: datetime,
) -> None:
    if not isinstance(daily_requests, int) or daily_requests <= 0:
        return
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    made = await repo.requests_since(session, account_id, user_id, midnight)
    if made >= daily_requests:
        retry_after = int((midnight + timedelta(days=1) - now).total_seconds()) + 1
        raise TooManyRequests(
            f"Daily request quota of {daily_requests} reached",
            type_slug="daily-quota-exceeded",
            retry_after=retry_after,
            extra={"daily_requests": daily_requests},
        )


async def release(
    session: AsyncSession, caller: Principal, reservation_id: uuid.UUID
) -> ReleaseOut:
    """Give back an unsettled hold; releasing twice is harmless, a settled hold cannot be."""
    user_id = caller.user_id
    found = await session.get(Hold, reservation_id)
    if found is None or found.user_id != user_id:
        raise NotFound("No such reservation")
    now = datetime.now(UTC)
    # Account first, then hold: the lock order of every path that settles a hold.
    await repo.lock_account(session, found.account_id)
    hold = await repo.lock_hold(session, reservation_id)
    assert hold is not None
    if hold.status == "held" and hold.expires_at <= now:
        await repo.settle_hold(session, hold.id, "expired", now)
        hold.status = "expired"
    if hold.status == "held":
        await repo.settle_hold(session, hold.id, "released", now)
    elif hold.status != "released":
        raise Conflict(
            f"This reservation is already {hold.status}",
            type_slug=f"reservation-{hold.status}",
            extra={"status": hold.status},
        )
    balance = await available(session, hold.account_id, now)
    return ReleaseOut(reservation_id=hold.id, status="released", available=balance.available)
