"""Many reservations in one transaction, through the ORM: every kind of caller.

Every account involved is locked (in id order) before its balance is read, so
the group sees every hold committed before it and nobody can add one until it
commits. The facts read here (memberships, caps, daily counts, retried
request_ids) go to ``decisions.decide``; refusals (402, 429, ...) are answers
for one request, not failures of the group.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.errors import Forbidden
from tollgate.usage.config import Settings
from tollgate.usage.ledger import repository as repo
from tollgate.usage.ledger.domain import add_month
from tollgate.usage.ledger.service import ensure_current_period, grant_plan_allocation
from tollgate.usage.metering.batch_repository import create_accounts
from tollgate.usage.reservations.decisions import (
    Answer,
    Ask,
    Target,
    daily_limit,
    decide,
    replay,
)

__all__ = ["Answer", "Ask", "reserve_many"]


async def reserve_many(session: AsyncSession, settings: Settings, asks: list[Ask]) -> list[Answer]:
    now = datetime.now(UTC)
    targets = await _targets(session, asks)
    wanted = sorted({t.account_id for t in targets if t.refusal is None})
    await _create_missing_users(session, settings, asks, targets, now)
    accounts = await repo.lock_accounts(session, wanted)
    for account in accounts.values():
        await ensure_current_period(session, account, now)
    balance = {a: r - h for a, (r, h) in (await repo.balances(session, wanted, now)).items()}
    existing = await repo.holds_by_request(session, [a.request.request_id for a in asks])
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    daily_pairs = {
        (t.account_id, a.caller.user_id)
        for a, t in zip(asks, targets, strict=True)
        if t.refusal is None and daily_limit(accounts[t.account_id]) is not None
    }
    made_today = await repo.requests_since_by_member(session, daily_pairs, midnight)
    cap_spent: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    for ask, target in zip(asks, targets, strict=True):
        pair = (target.account_id, ask.caller.user_id)
        if target.refusal is None and target.cap_tokens is not None and pair not in cap_spent:
            period_start = accounts[target.account_id].period_start
            cap_spent[pair] = await repo.member_spent(session, *pair, period_start, now)

    decisions = decide(
        settings, asks, targets, dict(accounts), balance, made_today, cap_spent, dict(existing), now
    )
    inserted = await repo.insert_holds(session, decisions.new_holds)
    raced = [h["request_id"] for h in decisions.new_holds if h["request_id"] not in inserted]
    if raced:  # another transaction reserved the same request_id meanwhile: answer with its hold
        found = await repo.holds_by_request(session, raced)
        for request_id in raced:
            i = decisions.first_in_group[request_id]
            decisions.answers[i] = replay(found[request_id], asks[i].caller.user_id, balance)
    return decisions.complete(asks)


async def _targets(session: AsyncSession, asks: list[Ask]) -> list[Target]:
    """Which account each caller spends from (as members.service.resolve_spender decides)."""
    pairs: set[tuple[uuid.UUID, uuid.UUID]] = set()
    for ask in asks:
        user, parent, org = ask.caller.user_id, ask.caller.parent, ask.caller.org
        if parent is not None and parent != user:
            pairs.add((parent, user))
        elif org is not None:
            pairs.add((org, user))
    memberships = await repo.members_of(session, pairs)
    orgs = {a.caller.org for a in asks if a.caller.org is not None and a.caller.parent is None}
    pools = await repo.live_accounts(session, orgs)
    targets = []
    for ask in asks:
        user, parent, org = ask.caller.user_id, ask.caller.parent, ask.caller.org
        if parent is not None and parent != user:
            membership = memberships.get((parent, user))
            if membership is not None and not membership.active:
                targets.append(Target(parent, None, Forbidden("This sub-user has been disabled")))
            else:
                targets.append(
                    Target(
                        parent,
                        membership.cap_tokens if membership else None,
                        permissions=membership.permissions if membership else None,
                    )
                )
            continue
        if org is not None:
            membership = memberships.get((org, user))
            if org in pools and (membership is None or membership.active):
                targets.append(Target(org, membership.cap_tokens if membership else None))
                continue
        targets.append(Target(user, None))
    return targets


async def _create_missing_users(
    session: AsyncSession,
    settings: Settings,
    asks: list[Ask],
    targets: list[Target],
    now: datetime,
) -> None:
    """Accounts of users we have not heard of yet start on the free plan (like one by one)."""
    candidates = sorted(
        {t.account_id for t in targets if t.refusal is None and t.account_id not in _orgs(asks)}
    )
    if not candidates:
        return
    end = add_month(now)
    created = await create_accounts(session, candidates, settings.free_monthly_tokens, now, end)
    for account_id in sorted(created):
        await grant_plan_allocation(
            session, account_id, now, end, settings.free_monthly_tokens, now
        )


def _orgs(asks: list[Ask]) -> set[uuid.UUID]:
    return {a.caller.org for a in asks if a.caller.org is not None}
