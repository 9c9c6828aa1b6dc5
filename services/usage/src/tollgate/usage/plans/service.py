"""Applying ``plan.updated``, and the limits an account has once its plan's edits count."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.messaging import Envelope
from tollgate.shared.messaging.events import PlanUpdated
from tollgate.shared.plans import limits_for
from tollgate.usage.plans import repository

__all__ = ["apply_plan_updated", "current_limits"]

log = logging.getLogger("tollgate.usage.plans")


async def apply_plan_updated(session: AsyncSession, envelope: Envelope) -> None:
    plan = PlanUpdated.model_validate(envelope.data)
    kept = await repository.keep_newest(session, plan)
    log.info(
        "plan %s version %d %s",
        plan.code,
        plan.version,
        "applied" if kept else "not newer than the stored one, skipped",
    )


def current_limits(
    plan: str, own: Mapping[str, Any] | None, catalog: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The built-in defaults of the plan, then what the account's last subscription.changed
    said, then the plan's newest announced edit: an admin's edit reaches every account on
    the plan without waiting for each one's next subscription change."""
    limits: dict[str, Any] = dict(limits_for(plan))
    limits.update(own or {})
    limits.update(catalog.get(plan, {}))
    return limits
