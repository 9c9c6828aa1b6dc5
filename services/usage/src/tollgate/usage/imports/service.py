"""Balances, promotional grants and past usage moved in from another backend.

An opening balance is the current period's plan allocation, already spent down
to what the old system had left: the allocation is granted here exactly as
subscription.changed grants it (one plan grant per period, whichever comes
first), and what was used before the move is one ``spent_before_import`` entry.
Anything left above the allocation becomes a grant of its own for the rest of
the period. Past usage lands in the usage history and the daily rollup, so the
stats show the months before the move; it is never charged again.

Every write is keyed by its source (ledger request id, grant id, usage request
id), so a repeated or resumed import adds nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.messaging.events import UsageRecorded
from tollgate.usage.imports import repository
from tollgate.usage.imports.schemas import BalanceImport, GrantImport, UsageImport
from tollgate.usage.ledger import repository as ledger
from tollgate.usage.ledger import store
from tollgate.usage.ledger.service import ensure_account, grant_plan_allocation

IMPORT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://tollgate.dev/imports")


def grant_id_of(key: str) -> uuid.UUID:
    return uuid.uuid5(IMPORT_NAMESPACE, key)


async def opening_balance(session: AsyncSession, body: BalanceImport) -> bool:
    now = datetime.now(UTC)
    key = body.key()
    account = await ensure_account(
        session, body.account_id, kind=body.kind, free_tokens=0, now=now, grant_free=False
    )
    created = False
    if body.allocation > 0 and not await repository.entry_exists(session, key):
        await grant_plan_allocation(
            session, account.id, body.period_start, body.period_end, body.allocation, now
        )
        period = await ledger.overlapping_plan_grant(
            session, account.id, body.period_start, body.period_end
        )
        assert period is not None
        grant = await repository.grant(session, period.id)
        used_before = min(max(0, body.allocation - body.remaining), grant.amount - grant.used)
        if used_before > 0:
            await repository.spend(session, grant, used_before, key, now)
            created = True
    above_allocation = body.remaining - body.allocation
    if above_allocation > 0 and body.period_end > now:
        created |= await _grant(
            session,
            grant_id_of(key),
            {
                "account_id": account.id,
                "source": "admin",
                "amount": above_allocation,
                "starts_at": body.period_start,
                "expires_at": body.period_end,
                "reason": "balance above the plan, moved in from the previous system",
            },
            now,
        )
    return created


async def promotional_grant(session: AsyncSession, body: GrantImport) -> bool:
    now = datetime.now(UTC)
    account = await ensure_account(
        session, body.account_id, kind=body.kind, free_tokens=0, now=now, grant_free=False
    )
    return await _grant(
        session,
        grant_id_of(body.key()),
        {
            "account_id": account.id,
            "source": body.grant_source,
            "amount": body.amount,
            "starts_at": body.starts_at or now,
            "expires_at": body.expires_at,
            "reason": body.reason,
        },
        now,
    )


async def _grant(
    session: AsyncSession, grant_id: uuid.UUID, values: dict[str, Any], now: datetime
) -> bool:
    # The account row is locked (ensure_account): no concurrent import of this grant.
    if await repository.grant_exists(session, grant_id):
        return False
    await ledger.insert_grant(session, {"id": grant_id, "priority": 0, **values}, now)
    return True


async def past_usage(session: AsyncSession, body: UsageImport) -> tuple[int, int]:
    """Record the rows not in yet, and add exactly those to the rollup (the store's one
    way of writing usage rows): how many went in, and how many were in already."""
    rows = {
        r.source_id: store.UsageRow(
            event=UsageRecorded(
                request_id=f"import:{body.source}:{r.source_id}",
                user_id=r.user_id,
                model=r.model,
                provider=r.provider,
                endpoint=r.endpoint,
                prompt_tokens=r.prompt_tokens,
                completion_tokens=r.completion_tokens,
                total_tokens=r.total_tokens,
                cost_usd=r.cost_usd,
                status=r.status,
                started_at=r.started_at,
            ),
            account_id=r.account_id,
            hold_id=None,
            feature=r.feature,
            total_tokens=r.total_tokens,
            # Paid for in the old system: history here, never charged again, at no price.
            input_per_million=None,
            output_per_million=None,
            cost_credits=0,
            charged_credits=0,
        )
        for r in body.records
    }
    inserted = await store.record_usage(session, list(rows.values()))
    return inserted, len(rows) - inserted
