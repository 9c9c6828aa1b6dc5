"""SQL of top-ups in usage: purchase grants, clawbacks, auto top-up watches."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.usage.models import Clawback, Grant, LedgerEntry, PurchaseGrant, TopUpWatch


async def claim_purchase(
    session: AsyncSession,
    purchase_id: uuid.UUID,
    account_id: uuid.UUID,
    grant_id: uuid.UUID,
    credits: int,
) -> bool:
    """Name the grant a purchase becomes; False if the purchase was granted already."""
    claimed = await session.scalar(
        insert(PurchaseGrant)
        .values(purchase_id=purchase_id, account_id=account_id, grant_id=grant_id, credits=credits)
        .on_conflict_do_nothing()
        .returning(PurchaseGrant.purchase_id)
    )
    return claimed is not None


async def purchase_grant(session: AsyncSession, purchase_id: uuid.UUID) -> Grant | None:
    """The purchase's grant, locked."""
    result: Grant | None = await session.scalar(
        select(Grant)
        .join(PurchaseGrant, PurchaseGrant.grant_id == Grant.id)
        .where(PurchaseGrant.purchase_id == purchase_id)
        .with_for_update(of=Grant)
        .execution_options(populate_existing=True)
    )
    return result


async def claim_refund(
    session: AsyncSession, refund_id: str, purchase_id: uuid.UUID, asked: int
) -> bool:
    claimed = await session.scalar(
        insert(Clawback)
        .values(refund_id=refund_id, purchase_id=purchase_id, asked=asked, taken=0)
        .on_conflict_do_nothing()
        .returning(Clawback.refund_id)
    )
    return claimed is not None


async def take_back(
    session: AsyncSession, grant: Grant, refund_id: str, credits: int, now: datetime
) -> None:
    """Shrink the grant by ``credits`` (its unused part at most), with a debit entry."""
    await session.execute(
        update(Grant).where(Grant.id == grant.id).values(amount=Grant.amount - credits)
    )
    await session.execute(
        update(Clawback).where(Clawback.refund_id == refund_id).values(taken=credits)
    )
    session.add(
        LedgerEntry(
            account_id=grant.account_id,
            grant_id=grant.id,
            kind="clawback",
            amount=-credits,
            occurred_at=now,
        )
    )
    await session.flush()


async def upsert_watch(
    session: AsyncSession, account_id: uuid.UUID, *, enabled: bool, threshold: int, sequence: int
) -> bool:
    """Apply billing's setting unless a newer one was applied; (re)enabling arms it."""
    stmt = insert(TopUpWatch).values(
        account_id=account_id,
        enabled=enabled,
        threshold=threshold,
        armed=enabled,
        sequence=sequence,
    )
    applied = await session.scalar(
        stmt.on_conflict_do_update(
            index_elements=[TopUpWatch.account_id],
            set_={
                "enabled": stmt.excluded.enabled,
                "threshold": stmt.excluded.threshold,
                "armed": stmt.excluded.armed,
                "sequence": stmt.excluded.sequence,
            },
            where=TopUpWatch.sequence < stmt.excluded.sequence,
        ).returning(TopUpWatch.account_id)
    )
    return applied is not None


async def enabled_watches(
    session: AsyncSession, account_ids: Collection[uuid.UUID]
) -> list[TopUpWatch]:
    """The enabled watches of these accounts, locked (their accounts are locked already)."""
    if not account_ids:
        return []
    result = await session.scalars(
        select(TopUpWatch)
        .where(TopUpWatch.account_id.in_(list(account_ids)), TopUpWatch.enabled.is_(True))
        .order_by(TopUpWatch.account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(result)
