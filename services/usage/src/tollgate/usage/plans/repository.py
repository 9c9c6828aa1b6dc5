"""SQL for the announced plan catalog."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import bindparam

from tollgate.shared.messaging.events import PlanUpdated
from tollgate.usage.ledger.store import Db

__all__ = ["allocations_of", "keep_newest", "limits_of"]

# An announcement older than (or as old as) the stored one changes nothing.
_KEEP_NEWEST = text(
    """
    INSERT INTO plan_catalog (code, version, active, monthly_tokens, limits)
    VALUES (:code, :version, :active, :monthly_tokens, :limits)
    ON CONFLICT (code) DO UPDATE SET
        version = excluded.version, active = excluded.active,
        monthly_tokens = excluded.monthly_tokens, limits = excluded.limits, updated_at = now()
    WHERE plan_catalog.version < excluded.version
    RETURNING code
    """
).bindparams(bindparam("limits", type_=JSONB))

_ALLOCATIONS_OF = text(
    "SELECT code, monthly_tokens FROM plan_catalog WHERE code = ANY(CAST(:codes AS varchar[]))"
)
_LIMITS_OF = text(
    "SELECT code, limits FROM plan_catalog WHERE code = ANY(CAST(:codes AS varchar[]))"
)


async def keep_newest(db: Db, plan: PlanUpdated) -> bool:
    """Store the plan unless a version at least as new is stored; True if it was."""
    params = {
        "code": plan.code,
        "version": plan.version,
        "active": plan.active,
        "monthly_tokens": plan.monthly_tokens,
        "limits": dict(plan.limits),
    }
    return (await db.execute(_KEEP_NEWEST, params)).first() is not None


async def limits_of(db: Db, codes: Collection[str]) -> dict[str, dict[str, Any]]:
    """The announced limits of these plans (those announced at least once)."""
    if not codes:
        return {}
    rows = await db.execute(_LIMITS_OF, {"codes": sorted(codes)})
    return {code: dict(limits) for code, limits in rows}


async def allocations_of(db: Db, codes: Collection[str]) -> dict[str, int]:
    """The announced monthly allocation of these plans (those announced at least once)."""
    if not codes:
        return {}
    rows = await db.execute(_ALLOCATIONS_OF, {"codes": sorted(codes)})
    return {code: int(monthly_tokens) for code, monthly_tokens in rows}
