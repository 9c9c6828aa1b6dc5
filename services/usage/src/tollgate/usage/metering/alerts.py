"""balance.low and quota.exhausted: once per threshold per period, through the outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.messaging import add_event
from tollgate.shared.messaging.events import BalanceLow, QuotaExhausted
from tollgate.usage.metering.repository import mark_alert_sent

__all__ = ["AccountPeriod", "announce_low_balance"]


class AccountPeriod(Protocol):
    """What alerts need of an account: an ORM ``Account`` or a locked row."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def monthly_tokens(self) -> int: ...
    @property
    def period_start(self) -> datetime: ...


async def announce_low_balance(
    session: AsyncSession,
    outbox: Table,
    account: AccountPeriod,
    remaining: int,
    percents: list[int],
) -> None:
    allocation = account.monthly_tokens
    if allocation <= 0:
        return
    if remaining <= 0 and await mark_alert_sent(session, account.id, account.period_start, 0):
        await add_event(
            session,
            outbox,
            "usage",
            account.id,
            QuotaExhausted(account_id=account.id, remaining=0, threshold=0),
        )
    crossed = [allocation * p // 100 for p in percents if remaining <= allocation * p // 100]
    fresh = [
        t
        for t in crossed
        if t > 0 and await mark_alert_sent(session, account.id, account.period_start, t)
    ]
    if fresh and remaining > 0:
        # Falling past several thresholds at once says so once, at the lowest.
        await add_event(
            session,
            outbox,
            "usage",
            account.id,
            BalanceLow(account_id=account.id, remaining=remaining, threshold=min(fresh)),
        )
