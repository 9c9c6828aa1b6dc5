"""SQL of the announced plans."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.llm_proxy.models import AnnouncedPlan

__all__ = ["allowed_models", "keep_newest"]


async def keep_newest(
    session: AsyncSession, code: str, version: int, active: bool, models: list[str]
) -> bool:
    """Store the plan unless a version at least as new is stored; True if it was."""
    statement = insert(AnnouncedPlan).values(
        code=code, version=version, active=active, allowed_models=models
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[AnnouncedPlan.code],
        set_={
            "version": statement.excluded.version,
            "active": statement.excluded.active,
            "allowed_models": statement.excluded.allowed_models,
            "updated_at": statement.excluded.updated_at,
        },
        where=AnnouncedPlan.version < statement.excluded.version,
    ).returning(AnnouncedPlan.code)
    return (await session.execute(upsert)).first() is not None


async def allowed_models(session: AsyncSession) -> dict[str, list[str]]:
    rows = await session.execute(select(AnnouncedPlan.code, AnnouncedPlan.allowed_models))
    return {code: list(models) for code, models in rows}
