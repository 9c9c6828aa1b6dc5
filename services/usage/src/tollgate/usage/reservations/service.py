"""Letting a hold go when its call fails before producing any token, and shrinking a
lease to what llm-proxy has spent or may still spend through it.

Taking holds is ``desk`` → ``reserve`` (the rules in ``decisions``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.errors import Conflict, NotFound
from tollgate.shared.security import Principal
from tollgate.usage.ledger import repository as repo
from tollgate.usage.ledger.service import available
from tollgate.usage.models import Hold
from tollgate.usage.reservations import minute_store
from tollgate.usage.reservations.decisions import shrink
from tollgate.usage.reservations.schemas import ReleaseOut, ShrinkIn, ShrinkOut

__all__ = ["release", "shrink_lease"]


async def _own_hold_locked(
    session: AsyncSession, caller: Principal, reservation_id: uuid.UUID, now: datetime
) -> Hold:
    """The caller's hold (404 for anyone else's), locked account first, then hold (the
    lock order of every path that settles a hold), and expired if its time has passed."""
    found = await session.get(Hold, reservation_id)
    if found is None or found.user_id != caller.user_id:
        raise NotFound("No such reservation")
    await repo.lock_account(session, found.account_id)
    hold = await repo.lock_hold(session, reservation_id)
    assert hold is not None
    if hold.status == "held" and hold.expires_at <= now:
        await repo.settle_hold(session, hold.id, "expired", now, hold.committed_tokens)
        hold.status = "expired"
    return hold


async def release(
    session: AsyncSession, caller: Principal, reservation_id: uuid.UUID
) -> ReleaseOut:
    """Give back an unsettled hold; releasing twice is harmless, a settled hold cannot be."""
    now = datetime.now(UTC)
    hold = await _own_hold_locked(session, caller, reservation_id, now)
    if hold.lease_until is not None:
        raise Conflict(
            "This reservation is a lease: its calls settle one by one, and it is given "
            "back with a final shrink",
            type_slug="reservation-is-a-lease",
        )
    if hold.status == "held":
        await repo.settle_hold(session, hold.id, "released", now)
        await minute_store.release(session, hold.id)
    elif hold.status != "released":
        raise Conflict(
            f"This reservation is already {hold.status}",
            type_slug=f"reservation-{hold.status}",
            extra={"status": hold.status},
        )
    balance = await available(session, hold.account_id, now)
    return ReleaseOut(reservation_id=hold.id, status="released", available=balance.available)


async def shrink_lease(
    session: AsyncSession, caller: Principal, reservation_id: uuid.UUID, told: ShrinkIn
) -> ShrinkOut:
    """Lower what a lease holds and counts to what llm-proxy ``told``; never raises it.

    The lease's settled calls may be ahead of or behind this (their events travel
    apart): what they committed is taken off what the proxy counts, so either order
    ends with the same balance.
    """
    now = datetime.now(UTC)
    hold = await _own_hold_locked(session, caller, reservation_id, now)
    if hold.lease_until is None:
        raise Conflict("This reservation is a plain hold, not a lease", type_slug="not-a-lease")
    # What was used was used: a closed or expired lease holds nothing, but its counts
    # may still come down to what its calls really took.
    held = hold.amount if hold.status == "held" else 0
    after = shrink(held, hold.committed_tokens or 0, hold.calls, hold.lease_final, told)
    hold.calls = after.calls
    if hold.status == "held":
        hold.amount = after.held
        hold.lease_final = after.final
        if after.closes:
            hold.status, hold.settled_at = "committed", now
            hold.committed_tokens = hold.committed_tokens or 0
    await session.flush()
    await minute_store.shrink(session, hold.id, told.tokens)
    balance = await available(session, hold.account_id, now)
    return ShrinkOut(reservation_id=hold.id, status=hold.status, available=balance.available)
