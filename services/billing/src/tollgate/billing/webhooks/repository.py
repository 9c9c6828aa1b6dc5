"""SQL for the record of applied Stripe events."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.models import StripeEvent


async def record(
    session: AsyncSession, event_id: str, event_type: str, created: int, source: str
) -> bool:
    """Claim the event for this transaction; False if it was applied already.

    A concurrent delivery of the same event waits on the unique key until the first
    transaction ends, then sees the conflict: one delivery applies, the rest skip.
    """
    claimed = await session.scalar(
        insert(StripeEvent)
        .values(id=event_id, type=event_type, created=created, source=source)
        .on_conflict_do_nothing()
        .returning(StripeEvent.id)
    )
    return claimed is not None


async def known(session: AsyncSession, event_ids: list[str]) -> set[str]:
    if not event_ids:
        return set()
    rows = await session.scalars(select(StripeEvent.id).where(StripeEvent.id.in_(event_ids)))
    return set(rows)
