"""usage.recorded: each call is charged once, whatever the broker does."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from usage_builders import usage_recorded
from usage_harness import Usage, eventually, give_plan, hold_status, now, recorded, spent

from tollgate.shared.messaging import make_envelope
from tollgate.usage.models import DailyUsage, Grant, UsageRecord


async def test_a_hold_commits_once_when_usage_recorded_arrives_three_times_at_once(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 10_000)
    token = usage.user_token(user)
    hold = (await usage.reserve(token, prompt_tokens=1_000, max_completion_tokens=1_000)).json()
    event = usage_recorded(
        user,
        reservation_id=uuid.UUID(hold["reservation_id"]),
        prompt_tokens=1_000,
        completion_tokens=300,
    )
    envelope = make_envelope("llm-proxy", user, event)
    # The same envelope twice, and the same call re-announced under a new event id,
    # all on the wire together; plus the handler itself run three times in parallel.
    await asyncio.gather(
        usage.broker.publish(envelope),
        usage.broker.publish(envelope),
        usage.broker.publish(make_envelope("llm-proxy", user, event)),
    )
    consumer = usage.app.state.usage_ingestor
    sub = consumer.subscription
    await asyncio.gather(
        *(consumer._apply(sub, make_envelope("llm-proxy", user, event)) for _ in range(3))
    )

    async def committed() -> bool:
        return await hold_status(usage, hold["reservation_id"]) == "committed"

    await eventually(committed)
    await asyncio.sleep(0.3)  # let any straggling duplicate land before counting
    assert await spent(usage, user) == 1_300
    balance = await usage.balance(token)
    assert balance["available"] == 10_000 - 1_300
    assert balance["reserved"] == 0
    count = await usage.db(
        lambda s: s.scalar(select(func.count()).where(UsageRecord.request_id == event.request_id))
    )
    assert count == 1


async def test_a_consumer_killed_after_commit_but_before_ack_does_not_count_twice(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 10_000)
    token = usage.user_token(user)
    hold = (await usage.reserve(token, prompt_tokens=500, max_completion_tokens=500)).json()
    envelope = make_envelope(
        "llm-proxy",
        user,
        usage_recorded(user, reservation_id=uuid.UUID(hold["reservation_id"]), prompt_tokens=500),
    )
    consumer = usage.app.state.usage_ingestor
    sub = consumer.subscription
    # The first delivery's transaction commits, then the process dies: no ack ...
    await consumer._apply(sub, envelope)
    # ... so the broker delivers the same message again to the next consumer.
    await usage.broker.publish(envelope)
    marker = usage_recorded(user, prompt_tokens=1, completion_tokens=0)
    await usage.publish(marker)

    async def marker_applied() -> bool:
        return await recorded(usage, marker.request_id) is not None

    await eventually(marker_applied)
    await asyncio.sleep(0.2)
    assert await spent(usage, user) == 550 + 1
    assert (await usage.balance(token))["available"] == 10_000 - 551


async def test_the_unused_part_of_a_hold_goes_back_and_a_failed_call_costs_nothing(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 10_000)
    token = usage.user_token(user)
    used = (await usage.reserve(token, prompt_tokens=1_000, max_completion_tokens=4_000)).json()
    failed = (await usage.reserve(token, prompt_tokens=1_000, max_completion_tokens=1_000)).json()
    assert (await usage.balance(token))["available"] == 3_000

    await usage.publish(
        usage_recorded(
            user,
            reservation_id=uuid.UUID(used["reservation_id"]),
            prompt_tokens=1_000,
            completion_tokens=200,
        )
    )
    await usage.publish(
        usage_recorded(
            user,
            reservation_id=uuid.UUID(failed["reservation_id"]),
            prompt_tokens=0,
            completion_tokens=0,
            status="failed",
        )
    )

    async def settled() -> bool:
        states = {
            await hold_status(usage, used["reservation_id"]),
            await hold_status(usage, failed["reservation_id"]),
        }
        return states == {"committed"}

    await eventually(settled)
    assert (await usage.balance(token))["available"] == 10_000 - 1_200


async def test_usage_beyond_the_hold_is_charged_as_far_as_the_balance_allows(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 2_000)
    token = usage.user_token(user)
    hold = (await usage.reserve(token, prompt_tokens=500, max_completion_tokens=500)).json()
    event = usage_recorded(
        user,
        reservation_id=uuid.UUID(hold["reservation_id"]),
        prompt_tokens=500,
        completion_tokens=2_500,
    )
    await usage.publish(event)

    row = await eventually(lambda: recorded(usage, event.request_id))
    assert row.total_tokens == 3_000
    assert row.charged_credits == 2_000
    assert row.uncharged_credits == 1_000
    assert (await usage.balance(token))["available"] == 0
    grants = await usage.db(
        lambda s: s.scalars(select(Grant).where(Grant.account_id == user))  # type: ignore[arg-type,return-value]
    )
    assert all(0 <= g.used <= g.amount for g in grants)


async def test_a_late_event_is_booked_to_the_day_the_call_happened(usage: Usage) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 10_000)
    started = now() - timedelta(days=3)
    event = usage_recorded(user, started_at=started, prompt_tokens=10, completion_tokens=5)
    await usage.publish(event)

    await eventually(lambda: recorded(usage, event.request_id))

    rows: Any = await usage.db(
        lambda s: s.scalars(select(DailyUsage).where(DailyUsage.user_id == user))  # type: ignore[arg-type,return-value]
    )
    days = [(r.day, r.total_tokens) for r in rows]
    assert days == [(started.date(), 15)]


async def test_usage_for_an_expired_hold_is_still_charged_but_the_hold_stays_expired(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 10_000)
    token = usage.user_token(user)
    hold = (
        await usage.reserve(token, prompt_tokens=1_000, max_completion_tokens=0, ttl_seconds=1)
    ).json()

    async def expired() -> bool:
        return await hold_status(usage, hold["reservation_id"]) == "expired"

    await eventually(expired, timeout=5)
    event = usage_recorded(
        user,
        reservation_id=uuid.UUID(hold["reservation_id"]),
        prompt_tokens=1_000,
        completion_tokens=0,
    )
    await usage.publish(event)

    row = await eventually(lambda: recorded(usage, event.request_id))
    assert row.charged_credits == 1_000
    assert await hold_status(usage, hold["reservation_id"]) == "expired"
    assert (await usage.balance(token))["available"] == 9_000


async def test_unreserved_usage_of_a_sub_user_is_charged_to_the_parent(usage: Usage) -> None:
    from tollgate.shared.messaging.events import UserRegistered
    from tollgate.usage.models import Member

    parent, child = uuid.uuid4(), uuid.uuid4()
    await usage.publish(UserRegistered(user_id=parent, email="p3@example.com"))
    await usage.publish(
        UserRegistered(user_id=child, email="c3@example.com", parent_user_id=parent)
    )
    await eventually(lambda: usage.db(lambda s: s.get(Member, (parent, child))))
    event = usage_recorded(child, prompt_tokens=300, completion_tokens=0)
    await usage.publish(event)

    row = await eventually(lambda: recorded(usage, event.request_id))
    assert row.account_id == parent
    assert await spent(usage, parent) == 300


async def test_deleting_a_user_releases_their_open_holds(usage: Usage) -> None:
    from tollgate.shared.messaging.events import UserDeleted

    user = uuid.uuid4()
    await give_plan(usage, user, 10_000)
    hold = (await usage.reserve(usage.user_token(user), prompt_tokens=500)).json()

    await usage.publish(UserDeleted(user_id=user))

    async def released() -> bool:
        return await hold_status(usage, hold["reservation_id"]) == "released"

    await eventually(released)


async def test_usage_without_a_reservation_id_settles_the_hold_of_its_request(
    usage: Usage,
) -> None:
    # llm-proxy asked for a hold, but usage's answer was lost on the way back: the
    # proxy reports the call's outcome under the same request_id, with no reservation id.
    user = uuid.uuid4()
    await give_plan(usage, user, 10_000)
    token = usage.user_token(user)
    lost, settled_alone = uuid.uuid4().hex, uuid.uuid4().hex
    holds = []
    for request_id in (lost, settled_alone):
        reply = await usage.reserve(token, request_id=request_id, prompt_tokens=1_000)
        assert reply.status_code == 201, reply.text
        holds.append(reply.json()["reservation_id"])
    # One through the batched consumer, one through the one-by-one path it falls back to.
    failed = usage_recorded(user, request_id=lost, prompt_tokens=0, completion_tokens=0)
    await usage.publish(failed, subject=user, source="llm-proxy")
    used = usage_recorded(user, request_id=settled_alone, prompt_tokens=1_000, completion_tokens=20)
    consumer = usage.app.state.usage_ingestor
    await consumer._apply(consumer.subscription, make_envelope("llm-proxy", user, used))

    async def both_committed() -> bool:
        states = [await hold_status(usage, hold) for hold in holds]
        return states == ["committed", "committed"]

    await eventually(both_committed)
    balance = await usage.balance(token)
    assert balance["reserved"] == 0
    assert balance["available"] == 10_000 - 1_020
    assert await spent(usage, user) == 1_020
