from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.models import AccountPlan, AnnouncedPlan, User

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
        rows = await self._rows({user.id, *filter(None, (user.org_id, user.parent_user_id))})
        row = governing_row(user, rows)
        if row is None or row.status in LAPSED_STATUSES:
            return "free", {}
        return row.plan, dict(row.limits or {})

    async def record_plan_edit(self, code: str, limits: dict[str, Any], version: int) -> bool:
        """Keep the newest version of a plan of the catalog; an older one changes nothing."""
        insert_stmt = insert(AnnouncedPlan).values(code=code, limits=limits, version=version)
        stmt = insert_stmt.on_conflict_do_update(
            index_elements=[AnnouncedPlan.code],
            set_={"limits": insert_stmt.excluded.limits, "version": insert_stmt.excluded.version},
            where=AnnouncedPlan.version < insert_stmt.excluded.version,
        ).returning(AnnouncedPlan.code)
        return (await self.session.scalar(stmt)) is not None

    async def announced_limits(self, code: str) -> dict[str, Any]:
        """The plan's limits as billing last announced an edit of them ({} if never)."""
        found = await self.session.get(AnnouncedPlan, code)
        return dict(found.limits) if found is not None else {}

    async def plans_of(self, users: list[User]) -> dict[uuid.UUID, str]:
        accounts: set[uuid.UUID] = set()
        for u in users:
            accounts.update(filter(None, (u.id, u.org_id, u.parent_user_id)))
        rows = await self._rows(accounts)
        result = {}
        for u in users:
            row = governing_row(u, rows)
            result[u.id] = "free" if row is None or row.status in LAPSED_STATUSES else row.plan
        return result

    async def _rows(self, accounts: set[uuid.UUID]) -> dict[uuid.UUID, AccountPlan]:
        rows = await self.session.scalars(
            select(AccountPlan).where(AccountPlan.account_id.in_(accounts))
        )
        return {r.account_id: r for r in rows}


def governing_row(user: User, rows: dict[uuid.UUID, AccountPlan]) -> AccountPlan | None:
    """The organization's plan, else the parent's (a sub-user spends its parent's), else own."""
    for account in (user.org_id, user.parent_user_id, user.id):
        if account is not None and account in rows:
            return rows[account]
    return None
