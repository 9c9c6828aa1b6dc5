"""A group of reservations in one transaction: gather the facts, decide, write.

Every account that pays is locked (in id order) before its balance is read, so
the group sees every hold committed before it and nobody can add one until it
commits. The facts (who pays, the accounts, balances, daily counts, what capped
members have spent, holds of retried request_ids) go to ``decisions.decide``;
refusals (402, 429, ...) are answers for one request, not failures of the group.
A single reservation is a group of one: there is no other path.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tollgate.usage.config import Settings
from tollgate.usage.ledger import store
from tollgate.usage.ledger.service import lock_paying_accounts, renew_periods
from tollgate.usage.ledger.store import Db, HoldRow
from tollgate.usage.members.service import Claims, payers
from tollgate.usage.reservations.decisions import (
    Answer,
    Ask,
    Decisions,
    daily_limit,
    decide,
    replay,
)

__all__ = ["reserve_group"]


async def reserve_group(db: Db, settings: Settings, asks: list[Ask]) -> list[Answer]:
    now = datetime.now(UTC)
    who = await payers(db, [Claims(a.caller.user_id, a.caller.org, a.caller.parent) for a in asks])
    paying = {p.account_id for p in who if p.refusal is None}
    organizations = {a.caller.org for a in asks if a.caller.org is not None}
    accounts = await lock_paying_accounts(
        db,
        paying,
        creatable=paying - organizations,  # an organization's pool comes from billing only
        free_tokens=settings.free_monthly_tokens,
        now=now,
    )
    await renew_periods(db, accounts, now)
    balance = {a: b.available for a, b in (await store.balances(db, sorted(accounts), now)).items()}

    paired = list(zip(asks, who, strict=True))
    members = [(p.account_id, a.caller.user_id) for a, p in paired if p.refusal is None]
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    counted = {pair for pair in members if daily_limit(accounts[pair[0]]) is not None}
    made_today = await store.requests_since(db, counted, midnight)
    capped = {
        (p.account_id, a.caller.user_id): accounts[p.account_id].period_start
        for a, p in paired
        if p.refusal is None and p.cap_tokens is not None
    }
    cap_spent = await store.member_spent(db, capped, now)

    def decided(existing: dict[str, HoldRow]) -> Decisions:
        # decide() spends from the counts it is given: each decision starts from the facts.
        return decide(
            settings,
            asks,
            who,
            dict(accounts),
            dict(balance),
            dict(made_today),
            dict(cap_spent),
            existing,
            now,
        )

    request_ids = [a.request.request_id for a in asks]
    decisions = decided({})
    written = await store.insert_holds(db, decisions.new_holds, request_ids)
    if written.existing:
        # A retried request_id is learned from the insert (saving a lookup per group):
        # take this group's new holds back and decide again, knowing which are retries.
        taken = [h.id for h in decisions.new_holds if h.request_id not in written.left_out]
        await store.delete_holds(db, taken)
        decisions = decided(written.existing)
        written = await store.insert_holds(db, decisions.new_holds, request_ids)
    raced = [h.request_id for h in decisions.new_holds if h.request_id in written.left_out]
    if raced:  # another transaction reserved the same request_id meanwhile: answer with its hold
        found = await store.holds_by_request(db, raced)
        for request_id in raced:
            i = decisions.first_in_group[request_id]
            decisions.answers[i] = replay(found[request_id], asks[i].caller.user_id, balance)
    return decisions.complete(asks)
