"""Members, and erasing a deleted user's personal usage data."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.usage.models import (
    ANONYMOUS_USER,
    Account,
    DailyUsage,
    FeatureEvent,
    Hold,
    Member,
    UsageRecord,
)

__all__ = ["erase_user", "upsert_member"]


async def upsert_member(
    session: AsyncSession,
    account_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    kind: str,
    role: str | None,
    cap_tokens: int | None = None,
) -> None:
    stmt = insert(Member).values(
        account_id=account_id, user_id=user_id, kind=kind, role=role, cap_tokens=cap_tokens
    )
    set_: dict[str, object] = {"active": True, "role": stmt.excluded.role, "updated_at": func.now()}
    if cap_tokens is not None:
        set_["cap_tokens"] = cap_tokens
    await session.execute(
        stmt.on_conflict_do_update(index_elements=["account_id", "user_id"], set_=set_)
    )


async def erase_user(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> None:
    await session.execute(delete(UsageRecord).where(UsageRecord.user_id == user_id))
    await session.execute(delete(FeatureEvent).where(FeatureEvent.user_id == user_id))
    await session.execute(delete(Member).where(Member.user_id == user_id))
    await session.execute(
        update(Hold)
        .where(Hold.user_id == user_id, Hold.status == "held")
        .values(status="released", settled_at=now)
    )
    await session.execute(update(Account).where(Account.id == user_id).values(deleted_at=now))
    # Fold the user's rollup rows into the anonymous user's, so totals still add up.
    mine = select(
        DailyUsage.day,
        DailyUsage.account_id,
        literal(ANONYMOUS_USER).label("user_id"),
        DailyUsage.model,
        DailyUsage.provider,
        DailyUsage.feature,
        DailyUsage.requests,
        DailyUsage.prompt_tokens,
        DailyUsage.completion_tokens,
        DailyUsage.total_tokens,
        DailyUsage.charged_credits,
        DailyUsage.cost_usd,
    ).where(DailyUsage.user_id == user_id)
    columns = [
        "day",
        "account_id",
        "user_id",
        "model",
        "provider",
        "feature",
        "requests",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "charged_credits",
        "cost_usd",
    ]
    stmt = insert(DailyUsage).from_select(columns, mine)
    excluded = stmt.excluded
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["day", "account_id", "user_id", "model", "provider", "feature"],
            set_={
                "requests": DailyUsage.requests + excluded.requests,
                "prompt_tokens": DailyUsage.prompt_tokens + excluded.prompt_tokens,
                "completion_tokens": DailyUsage.completion_tokens + excluded.completion_tokens,
                "total_tokens": DailyUsage.total_tokens + excluded.total_tokens,
                "charged_credits": DailyUsage.charged_credits + excluded.charged_credits,
                "cost_usd": DailyUsage.cost_usd + excluded.cost_usd,
            },
        )
    )
    await session.execute(delete(DailyUsage).where(DailyUsage.user_id == user_id))
