"""Read models for the caller's balance, history and stats."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.security import Principal
from tollgate.usage.analytics import repository as repo
from tollgate.usage.analytics.schemas import BalanceOut, GrantOut
from tollgate.usage.config import Settings
from tollgate.usage.ledger import repository as ledger
from tollgate.usage.ledger.service import available, ensure_current_period
from tollgate.usage.members.service import resolve_spender


async def balance(session: AsyncSession, settings: Settings, user: Principal) -> BalanceOut:
    now = datetime.now(UTC)
    spender = await resolve_spender(
        session,
        user.user_id,
        org=user.org,
        parent=user.parent,
        free_tokens=settings.free_monthly_tokens,
        now=now,
    )
    account = spender.account
    await ensure_current_period(session, account, now)
    current = await available(session, account.id, now)
    room = current.available
    if spender.cap_tokens is not None:
        spent = await ledger.member_spent(
            session, account.id, user.user_id, account.period_start, now
        )
        room = min(room, max(0, spender.cap_tokens - spent))
    grants = await ledger.list_grants(session, account.id, now)
    used = await repo.charged_between(session, account.id, account.period_start, account.period_end)
    return BalanceOut(
        account_id=account.id,
        account_kind=account.kind,
        plan=account.plan,
        available=room,
        reserved=current.held,
        used_this_period=used,
        allocation=account.monthly_tokens,
        period_start=account.period_start,
        period_end=account.period_end,
        member_cap=spender.cap_tokens,
        grants=[
            GrantOut(
                id=g.id,
                source=g.source,
                amount=g.amount,
                used=g.used,
                remaining=g.amount - g.used,
                priority=g.priority,
                starts_at=g.starts_at,
                expires_at=g.expires_at,
                reason=g.reason,
            )
            for g in grants
        ],
    )
