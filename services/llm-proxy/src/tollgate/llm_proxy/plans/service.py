"""Which models each plan allows, kept current in every worker.

One worker consumes each ``plan.updated`` (the queue is shared) and stores the
newest version in PostgreSQL; every worker reads that table again every
``LLM_PROXY_PLAN_REFRESH_SECONDS`` into memory, so the hot path asks no database
and an admin's edit is enforced by all of them within that delay. A plan never
announced allows what the built-in catalog (``tollgate.shared.plans``) says.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tollgate.llm_proxy.plans import repository
from tollgate.shared.messaging import Envelope
from tollgate.shared.messaging.events import PlanUpdated
from tollgate.shared.periodic import Periodic
from tollgate.shared.plans import limits_for

__all__ = ["PlanModels", "PlanRefresher", "apply_plan_updated"]

log = logging.getLogger("tollgate.llm_proxy.plans")


async def apply_plan_updated(session: AsyncSession, envelope: Envelope) -> None:
    plan = PlanUpdated.model_validate(envelope.data)
    models = plan.limits.get("allowed_models")
    if not isinstance(models, list):
        models = list(limits_for(plan.code)["allowed_models"])
    kept = await repository.keep_newest(
        session, plan.code, plan.version, plan.active, [str(m) for m in models]
    )
    log.info(
        "plan %s version %d %s",
        plan.code,
        plan.version,
        "stored" if kept else "not newer than the stored one, skipped",
    )


class PlanModels:
    """This worker's copy of each plan's allowed models ("*": every model)."""

    def __init__(self, announced: Mapping[str, Sequence[str]] | None = None) -> None:
        self._announced: dict[str, tuple[str, ...]] = {
            code: tuple(models) for code, models in (announced or {}).items()
        }

    def announced(self, plan: str | None) -> tuple[str, ...] | None:
        """What billing last said the plan allows; None if it never said."""
        return self._announced.get(plan or "free")

    def replace(self, announced: Mapping[str, Sequence[str]]) -> None:
        self._announced = {code: tuple(models) for code, models in announced.items()}


class PlanRefresher:
    """Reads the announced plans into a ``PlanModels`` now and then, in each worker."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        plans: PlanModels,
        *,
        interval: float,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.plans = plans
        self._periodic = Periodic(
            "plan-refresher", self.refresh, interval, wait_first=True, on_error=_keep_last
        )

    async def refresh(self) -> None:
        async with self.sessionmaker() as session:
            self.plans.replace(await repository.allowed_models(session))

    async def start(self) -> None:
        await self.refresh()
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()


def _keep_last(exc: Exception) -> None:
    # The last copy stays in force until the database answers again.
    log.warning("could not read the announced plans (%s); keeping the last", exc)
