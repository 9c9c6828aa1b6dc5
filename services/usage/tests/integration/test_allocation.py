"""Plan allocations: each period granted once, whatever order billing's events arrive in."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from usage_builders import subscription_changed
from usage_harness import Usage, eventually, now

from tollgate.shared.messaging.events import (
    OrgMemberAdded,
    OrgMemberRemoved,
    PlanUpdated,
    UserDeleted,
    UserRegistered,
)
from tollgate.usage.ledger.domain import add_month
from tollgate.usage.models import Account, DailyUsage, Grant, PlanCatalogEntry, UsageRecord


async def plan_grants(usage: Usage, account_id: uuid.UUID) -> list[tuple[int, object]]:
    grants = await usage.db(
        lambda s: s.scalars(  # type: ignore[arg-type,return-value]
            select(Grant)
            .where(Grant.account_id == account_id, Grant.source == "plan")
            .order_by(Grant.starts_at)
        )
    )
    return [(g.amount, g.starts_at) for g in grants]


async def sequence_of(usage: Usage, account_id: uuid.UUID) -> int | None:
    account = await usage.db(lambda s: s.get(Account, account_id))
    return account.subscription_sequence if account else None


async def test_a_repeated_and_reordered_subscription_changed_grants_each_period_once(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    january = now().replace(microsecond=0) - timedelta(days=31)
    february = january + timedelta(days=31)
    first = subscription_changed(user, sequence=1, period_start=january, period_days=31)
    renewal = subscription_changed(user, sequence=2, period_start=february, period_days=31)

    for event in (renewal, first, renewal, first, renewal):
        await usage.publish(event)

    async def settled() -> bool:
        return await sequence_of(usage, user) == 2

    await eventually(settled)
    marker = uuid.uuid4()
    await usage.publish(subscription_changed(marker, sequence=1, period_start=now()))
    await eventually(lambda: sequence_of(usage, marker))  # everything before it was applied
    grants = await plan_grants(usage, user)
    # January's grant exists only if its event happened to be applied before February's
    # (the queue's deliveries may be handled side by side); either way once, and expired.
    assert grants in ([(5_000_000, february)], [(5_000_000, january), (5_000_000, february)])
    balance = await usage.balance(usage.user_token(user))
    assert balance["available"] == 5_000_000
    assert balance["plan"] == "pro"


async def test_an_upgrade_inside_the_period_raises_the_allocation_instead_of_adding_one(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    start = now().replace(microsecond=0)
    await usage.publish(
        subscription_changed(
            user, sequence=1, plan="free", monthly_tokens=100_000, period_start=start
        )
    )
    await usage.publish(subscription_changed(user, sequence=2, period_start=start))

    async def upgraded() -> bool:
        return await sequence_of(usage, user) == 2

    await eventually(upgraded)
    assert await plan_grants(usage, user) == [(5_000_000, start)]


async def test_free_tokens_are_granted_once_when_both_registration_and_billing_announce_them(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await usage.publish(UserRegistered(user_id=user, email="a@example.com"))
    await eventually(lambda: usage.db(lambda s: s.get(Account, user)))
    await usage.publish(
        subscription_changed(
            user,
            sequence=1,
            plan="free",
            monthly_tokens=100_000,
            period_start=now() + timedelta(seconds=2),
        )
    )

    async def billed() -> bool:
        return await sequence_of(usage, user) == 1

    await eventually(billed)
    grants = await plan_grants(usage, user)
    assert [amount for amount, _ in grants] == [100_000]
    assert (await usage.balance(usage.user_token(user)))["available"] == 100_000


async def test_a_new_user_gets_the_free_allocation_on_registration(usage: Usage) -> None:
    user = uuid.uuid4()
    await usage.publish(UserRegistered(user_id=user, email="b@example.com"))

    await eventually(lambda: usage.db(lambda s: s.get(Account, user)))

    balance = await usage.balance(usage.user_token(user))
    assert balance["available"] == usage.settings.free_monthly_tokens
    assert balance["allocation"] == usage.settings.free_monthly_tokens
    assert balance["plan"] == "free"


async def test_a_removed_member_spends_from_their_own_account_again(usage: Usage) -> None:
    org, member = uuid.uuid4(), uuid.uuid4()
    await usage.publish(
        subscription_changed(org, sequence=1, org_id=org, monthly_tokens=50_000, period_start=now())
    )
    await usage.publish(OrgMemberAdded(org_id=org, user_id=member, role="member"))
    await eventually(lambda: sequence_of(usage, org))
    token = usage.user_token(member, org=org)
    assert (await usage.balance(token))["account_id"] == str(org)

    await usage.publish(OrgMemberRemoved(org_id=org, user_id=member))

    async def own_account() -> bool:
        return (await usage.balance(token))["account_id"] == str(member)

    await eventually(own_account)


async def test_deleting_a_user_erases_their_usage_but_keeps_anonymous_totals(
    usage: Usage,
) -> None:
    from usage_builders import usage_recorded

    user = uuid.uuid4()
    event = usage_recorded(user, prompt_tokens=70, completion_tokens=30)
    await usage.publish(event)

    async def has_record() -> bool:
        found = await usage.db(
            lambda s: s.scalar(
                select(UsageRecord).where(UsageRecord.request_id == event.request_id)
            )
        )
        return found is not None

    await eventually(has_record)
    await usage.publish(UserDeleted(user_id=user))

    async def erased() -> bool:
        return not await has_record()

    await eventually(erased)
    rows = list(
        await usage.db(
            lambda s: s.scalars(select(DailyUsage).where(DailyUsage.account_id == user))  # type: ignore[arg-type,return-value]
        )
    )
    assert [(r.user_id.int, r.total_tokens) for r in rows] == [(0, 100)]
    refused = await usage.reserve(usage.user_token(user), prompt_tokens=10)
    assert refused.status_code == 403


async def test_a_free_account_renews_monthly_on_its_own_schedule_once(usage: Usage) -> None:
    from tollgate.shared.messaging import Envelope

    user = uuid.uuid4()
    registered = now() - timedelta(days=40)
    envelope = Envelope(
        id=uuid.uuid4(),
        type="user.registered",
        source="auth",
        occurred_at=registered,
        subject=str(user),
        data=UserRegistered(user_id=user, email="old@example.com").model_dump(mode="json"),
    )
    await usage.broker.publish(envelope)
    await eventually(lambda: usage.db(lambda s: s.get(Account, user)))
    token = usage.user_token(user)

    balances = [await usage.balance(token) for _ in range(3)]

    assert {b["available"] for b in balances} == {usage.settings.free_monthly_tokens}
    grants = await plan_grants(usage, user)
    assert len(grants) == 2  # the lapsed first month and the current one
    assert grants[1][1] > registered + timedelta(days=27)
    assert balances[0]["period_start"] == balances[2]["period_start"]


async def test_plan_grants_keep_working_once_postgres_switches_to_a_generic_plan(
    usage: Usage,
) -> None:
    from tollgate.usage.ledger.repository import insert_grant

    start = now()

    async def grant_many(session: object) -> list[object]:
        # PostgreSQL re-plans a prepared statement generically after five runs; the
        # ON CONFLICT target must still match the partial unique index then.
        made = []
        for _ in range(8):
            account = uuid.uuid4()
            for _attempt in range(2):
                made.append(
                    await insert_grant(
                        session,  # type: ignore[arg-type]
                        {
                            "id": uuid.uuid4(),
                            "account_id": account,
                            "source": "plan",
                            "amount": 10,
                            "starts_at": start,
                            "expires_at": start + timedelta(days=30),
                            "period_start": start,
                        },
                        start,
                    )
                )
        return made

    made = await usage.db(grant_many)  # type: ignore[arg-type]
    assert [m is not None for m in made] == [True, False] * 8


async def test_a_cancellation_grants_nothing_new_and_keeps_the_current_allocation(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    start = now().replace(microsecond=0)
    await usage.publish(subscription_changed(user, sequence=1, period_start=start))

    async def subscribed() -> bool:
        return await sequence_of(usage, user) == 1

    # The cancellation comes after the subscription was applied, as it does from billing:
    # two events a moment apart may be applied in either order, and the older is dropped.
    await eventually(subscribed)
    await usage.publish(
        subscription_changed(
            user,
            sequence=2,
            status="canceled",
            plan="pro",
            period_start=start + timedelta(days=30),
        )
    )

    async def canceled() -> bool:
        return await sequence_of(usage, user) == 2

    await eventually(canceled)
    assert await plan_grants(usage, user) == [(5_000_000, start)]
    assert (await usage.balance(usage.user_token(user)))["available"] == 5_000_000


def month_ending_at(end: datetime) -> datetime:
    """The start of the calendar month (the same day, one month earlier) that ends at ``end``."""
    return next(
        start for days in range(28, 32) if add_month(start := end - timedelta(days=days)) == end
    )


async def test_a_yearly_subscriber_gets_the_allocation_in_each_month_of_the_year(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    second_month = now().replace(microsecond=0) + timedelta(seconds=3)
    start = month_ending_at(second_month)
    await usage.publish(
        subscription_changed(
            user, sequence=1, period_start=start, period_days=(add_month(start, 12) - start).days
        )
    )
    await eventually(lambda: sequence_of(usage, user))
    token = usage.user_token(user)
    first = await usage.balance(token)
    assert first["available"] == 5_000_000

    await asyncio.sleep(max(0.0, (second_month - now()).total_seconds()) + 0.5)
    second = [await usage.balance(token) for _ in range(3)]

    assert await plan_grants(usage, user) == [(5_000_000, start), (5_000_000, second_month)]
    # The first month's allocation ended with its month: one month's worth, never two.
    assert {b["available"] for b in second} == {5_000_000}
    assert second[0]["period_start"] != first["period_start"]


async def test_a_trial_that_ends_on_free_leaves_only_the_free_allocation(usage: Usage) -> None:
    user = uuid.uuid4()
    await usage.publish(UserRegistered(user_id=user, email="trial@example.com"))
    await eventually(lambda: usage.db(lambda s: s.get(Account, user)))
    trial_start = now().replace(microsecond=0)
    await usage.publish(
        subscription_changed(
            user, sequence=1, status="trialing", period_start=trial_start, period_days=14
        )
    )
    await eventually(lambda: sequence_of(usage, user))
    token = usage.user_token(user)
    assert (await usage.balance(token))["available"] == 5_000_000

    # Billing's free period starts on a whole second: here, before the trial began.
    await usage.publish(
        subscription_changed(
            user,
            sequence=2,
            plan="free",
            monthly_tokens=100_000,
            period_start=trial_start - timedelta(seconds=1),
        )
    )

    async def on_free() -> bool:
        return await sequence_of(usage, user) == 2

    await eventually(on_free)
    balance = await usage.balance(token)
    assert balance["plan"] == "free"
    assert balance["available"] == 100_000


async def test_an_edited_allocation_reaches_a_yearly_subscriber_at_their_next_month(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    plan = f"yearly-{user.hex[:8]}"  # its own plan, so no other test's edit counts
    second_month = now().replace(microsecond=0) + timedelta(seconds=3)
    start = month_ending_at(second_month)
    await usage.publish(
        subscription_changed(
            user,
            sequence=1,
            plan=plan,
            period_start=start,
            period_days=(add_month(start, 12) - start).days,
        )
    )
    await eventually(lambda: sequence_of(usage, user))
    await usage.publish(
        PlanUpdated(code=plan, active=True, monthly_tokens=7_000_000, limits={}, version=2),
        source="billing",
    )

    async def announced() -> bool:
        return await usage.db(lambda s: s.get(PlanCatalogEntry, plan)) is not None

    await eventually(announced)
    token = usage.user_token(user, plan=plan)
    assert (await usage.balance(token))["available"] == 5_000_000  # this month stays as granted

    await asyncio.sleep(max(0.0, (second_month - now()).total_seconds()) + 0.5)

    renewed = await usage.balance(token)  # the month turns when the account is next read

    assert renewed["available"] == 7_000_000
    assert await plan_grants(usage, user) == [(5_000_000, start), (7_000_000, second_month)]
