"""Ledger operations shared by reservations, metering, plan allocation and reads.

Every function here that changes a balance expects the caller to hold the
account row lock, so balance reads and writes of one account are serialised
while different accounts proceed in parallel.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.plans import limits_for
from tollgate.usage.ledger import repository as repo
from tollgate.usage.ledger import store
from tollgate.usage.ledger.domain import Balance, add_month, current_period
from tollgate.usage.ledger.store import AccountRow, Db
from tollgate.usage.models import Account
from tollgate.usage.plans import repository as plans

__all__ = [
    "PlanFacts",
    "account_limits",
    "available",
    "ensure_account",
    "ensure_current_period",
    "grant_plan_allocation",
    "lock_paying_accounts",
    "renew_periods",
]


class PlanFacts(Protocol):
    @property
    def plan(self) -> str: ...
    @property
    def limits(self) -> dict[str, Any] | None: ...


def account_limits(account: PlanFacts) -> dict[str, Any]:
    base: dict[str, Any] = dict(limits_for(account.plan))
    base.update(account.limits or {})
    return base


async def grant_plan_allocation(
    db: Db,
    account_id: uuid.UUID,
    start: datetime,
    end: datetime,
    amount: int,
    now: datetime,
) -> bool:
    """Grant a period's allocation once; True if the balance grew.

    A plan grant whose period overlaps this one is the same allocation announced
    again (a repeat, the free plan from both user.registered and billing, an
    upgrade inside the period): it is raised to the larger amount and the later
    end, never granted twice.
    """
    if amount <= 0 or end <= start:
        return False
    existing = await repo.overlapping_plan_grant(db, account_id, start, end)
    if existing is not None:
        new_expiry = max(existing.expires_at or end, end)
        if amount > existing.amount or new_expiry != existing.expires_at:
            await repo.enlarge_grant(db, existing, max(amount, existing.amount), new_expiry, now)
            grew: bool = amount > existing.amount
            return grew
        return False
    grant_id = await repo.insert_grant(
        db,
        {
            "id": uuid.uuid4(),
            "account_id": account_id,
            "source": "plan",
            "amount": amount,
            "priority": 0,
            "starts_at": start,
            "expires_at": end,
            "period_start": start,
            "reason": "plan allocation",
        },
        now,
    )
    return grant_id is not None


async def ensure_account(
    session: AsyncSession,
    account_id: uuid.UUID,
    *,
    kind: str,
    free_tokens: int,
    now: datetime,
    grant_free: bool = True,
) -> Account:
    """Lock the account, creating it on the free plan (with this month's allocation) if new."""
    account = await repo.lock_account(session, account_id)
    if account is not None:
        return account
    end = add_month(now)
    await repo.create_account(
        session,
        account_id,
        kind=kind,
        plan="free",
        monthly_tokens=free_tokens,
        period_start=now,
        period_end=end,
    )
    account = await repo.lock_account(session, account_id)
    assert account is not None
    if kind == "user" and grant_free:
        await grant_plan_allocation(session, account_id, now, end, free_tokens, now)
    return account


async def ensure_current_period(session: AsyncSession, account: Account, now: datetime) -> None:
    """Move an account into its current allocation month, granting that month once (at
    its plan's newest announced allocation, as ``renew_periods`` does)."""
    start, end = current_period(account.period_start, account.period_end, now, account.term_end)
    if end == account.period_end:
        return
    account.period_start, account.period_end = start, end
    await session.flush()
    edited = await plans.allocations_of(session, {account.plan})
    tokens = edited.get(account.plan, account.monthly_tokens)
    await grant_plan_allocation(session, account.id, start, end, tokens, now)


async def available(db: Db, account_id: uuid.UUID, now: datetime) -> Balance:
    return (await store.balances(db, [account_id], now))[account_id]


async def lock_paying_accounts(
    db: Db,
    ids: Collection[uuid.UUID],
    *,
    creatable: Collection[uuid.UUID],
    free_tokens: int,
    now: datetime,
) -> dict[uuid.UUID, AccountRow]:
    """Lock the accounts that pay for a group, creating the ``creatable`` ones we have not
    heard of yet on the free plan, with this month's allocation (events may lag behind a
    user's first call).

    The existing accounts are locked in id order; the new ones, created in id order too,
    after them: nobody else can have locked a row that did not exist.
    """
    accounts = await store.lock_accounts(db, ids)
    missing = [a for a in ids if a not in accounts and a in creatable]
    if missing:
        end = add_month(now)
        created = await store.create_free_accounts(db, missing, free_tokens, now, end)
        accounts.update(await store.lock_accounts(db, missing))
        for account_id in sorted(created):
            await grant_plan_allocation(db, account_id, now, end, free_tokens, now)
    return accounts


async def renew_periods(db: Db, accounts: dict[uuid.UUID, AccountRow], now: datetime) -> None:
    """Move locked accounts whose allocation month ended into the current one (granted once):
    free accounts, and paid terms longer than a month (yearly plans)."""
    renewed = {
        a.id: period
        for a in accounts.values()
        if (period := current_period(a.period_start, a.period_end, now, a.term_end))[1]
        != a.period_end
    }
    if not renewed:
        return
    await store.set_periods(db, renewed)
    # An admin's edit of a plan's allocation counts from each account's next month: a
    # yearly subscriber hears no subscription.changed until its term ends.
    edited = await plans.allocations_of(db, {accounts[a].plan for a in renewed})
    for account_id, (start, end) in sorted(renewed.items()):
        account = accounts[account_id]
        tokens = edited.get(account.plan, account.monthly_tokens)
        accounts[account_id] = account._replace(
            period_start=start, period_end=end, monthly_tokens=tokens
        )
        await grant_plan_allocation(db, account_id, start, end, tokens, now)
