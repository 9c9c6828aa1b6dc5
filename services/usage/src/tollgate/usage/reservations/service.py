"""Letting a hold go when its call fails before producing any token.

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
from tollgate.usage.reservations.schemas import ReleaseOut

__all__ = ["release"]


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
        await minute_store.release(session, hold.id)
    elif hold.status != "released":
        raise Conflict(
            f"This reservation is already {hold.status}",
            type_slug=f"reservation-{hold.status}",
            extra={"status": hold.status},
        )
    balance = await available(session, hold.account_id, now)
    return ReleaseOut(reservation_id=hold.id, status="released", available=balance.available)
