from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.models import AccountPlan, User

# Billing keeps sending the plan name when a subscription lapses; these statuses
# mean the paid plan no longer applies.
LAPSED_STATUSES = frozenset({"canceled", "incomplete_expired", "unpaid", "paused"})


class AccountPlanRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self,
        account_id: uuid.UUID,
        plan: str,
        status: str,
        limits: dict[str, Any],
        sequence: int,
    ) -> bool:
        """Keep the newest announcement per account; an older, late one changes nothing."""
        values = {
            "account_id": account_id,
            "plan": plan,
            "status": status,
            "limits": limits,
            "sequence": sequence,
        }
        insert_stmt = insert(AccountPlan).values(**values)
        stmt = insert_stmt.on_conflict_do_update(
            index_elements=[AccountPlan.account_id],
            set_={k: insert_stmt.excluded[k] for k in ("plan", "status", "limits", "sequence")},
            where=AccountPlan.sequence < insert_stmt.excluded.sequence,
        ).returning(AccountPlan.account_id)
        return (await self.session.scalar(stmt)) is not None

    async def plan_of(self, user: User) -> tuple[str, dict[str, Any]]:
        """The plan a user's tokens carry: their organization's, their parent's, or their own."""
        account = user.org_id or user.parent_user_id or user.id
        row = await self.session.get(AccountPlan, account)
        if row is None and account != user.id:
            row = await self.session.get(AccountPlan, user.id)
        if row is None or row.status in LAPSED_STATUSES:
            return "free", {}
        return row.plan, dict(row.limits or {})

    async def plans_of(self, users: list[User]) -> dict[uuid.UUID, str]:
        accounts = {u.org_id or u.parent_user_id or u.id for u in users}
        rows = await self.session.scalars(
            select(AccountPlan).where(AccountPlan.account_id.in_(accounts))
        )
        by_account = {r.account_id: r for r in rows}
        result = {}
        for u in users:
            row = by_account.get(u.org_id or u.parent_user_id or u.id)
            result[u.id] = "free" if row is None or row.status in LAPSED_STATUSES else row.plan
        return result
