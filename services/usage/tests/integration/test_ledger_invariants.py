"""Under a mixed concurrent workload the ledger still adds up, to the token."""

from __future__ import annotations

import asyncio
import random
import uuid

from sqlalchemy import func, select
from usage_builders import usage_recorded
from usage_harness import Usage, eventually, give_plan

from tollgate.usage.models import Grant, Hold, LedgerEntry, UsageRecord


async def test_reservations_settlements_and_releases_in_parallel_keep_the_ledger_consistent(
    usage: Usage,
) -> None:
    rng = random.Random(7)
    user = uuid.uuid4()
    await give_plan(usage, user, 60_000)
    token = usage.user_token(user)
    expected_events = 0

    async def one_call(i: int) -> int:
        reply = await usage.reserve(
            token, prompt_tokens=rng.randint(100, 900), max_completion_tokens=rng.randint(0, 900)
        )
        if reply.status_code != 201:
            return 0
        hold = reply.json()
        outcome = i % 3
        if outcome == 0:  # the call failed before any token: released
            await usage.http.post(
                f"/internal/reservations/{hold['reservation_id']}/release",
                headers=usage.service_headers(token),
            )
            return 0
        # used less than held, or (sometimes) more than held
        used = hold["held_tokens"] + (300 if outcome == 2 else -50)
        await usage.publish(
            usage_recorded(
                user,
                reservation_id=uuid.UUID(hold["reservation_id"]),
                prompt_tokens=max(0, used),
                completion_tokens=0,
            )
        )
        return 1

    expected_events = sum(await asyncio.gather(*(one_call(i) for i in range(90))))

    async def settled() -> bool:
        count = await usage.db(
            lambda s: s.scalar(select(func.count()).where(UsageRecord.user_id == user))
        )
        return count == expected_events

    await eventually(settled, timeout=20)

    async def totals(s):  # type: ignore[no-untyped-def]
        spend_by_grant = dict(
            (
                await s.execute(
                    select(LedgerEntry.grant_id, -func.sum(LedgerEntry.amount))
                    .where(LedgerEntry.account_id == user, LedgerEntry.kind == "spend")
                    .group_by(LedgerEntry.grant_id)
                )
            ).all()
        )
        grants = list(await s.scalars(select(Grant).where(Grant.account_id == user)))
        charged = await s.scalar(
            select(func.coalesce(func.sum(UsageRecord.charged_credits), 0)).where(
                UsageRecord.account_id == user
            )
        )
        committed = await s.scalar(
            select(func.coalesce(func.sum(Hold.committed_tokens), 0)).where(
                Hold.account_id == user, Hold.status == "committed"
            )
        )
        open_holds = await s.scalar(
            select(func.count()).where(Hold.account_id == user, Hold.status == "held")
        )
        return spend_by_grant, grants, charged, committed, open_holds

    spend_by_grant, grants, charged, committed, open_holds = await usage.db(totals)
    for grant in grants:
        assert 0 <= grant.used <= grant.amount
        assert grant.used == spend_by_grant.get(grant.id, 0)
    assert sum(spend_by_grant.values()) == charged == committed
    assert open_holds == 0
    balance = await usage.balance(token)
    assert balance["available"] == 60_000 - charged
    assert balance["reserved"] == 0
