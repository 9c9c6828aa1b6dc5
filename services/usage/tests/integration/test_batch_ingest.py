"""usage.recorded in batches: the same answers as one by one, and no poison spreads."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable

from sqlalchemy import func, select
from usage_builders import usage_recorded
from usage_harness import Usage, eventually, give_plan, spent

from tollgate.shared.messaging import make_envelope
from tollgate.shared.messaging.bundles import BUNDLE_CONTENT_TYPE, bundle_body
from tollgate.usage.metering.apply import apply_usage_events
from tollgate.usage.models import Hold, UsageRecord, messaging


async def test_a_batch_with_repeats_charges_every_call_once_and_commits_each_hold(
    usage: Usage,
) -> None:
    users = [uuid.uuid4() for _ in range(3)]
    holds = []
    for user in users:
        await give_plan(usage, user, 10_000)
        reply = await usage.reserve(
            usage.user_token(user), prompt_tokens=400, max_completion_tokens=600
        )
        holds.append(uuid.UUID(reply.json()["reservation_id"]))
    events = [
        usage_recorded(u, reservation_id=h, prompt_tokens=400, completion_tokens=100)
        for u, h in zip(users, holds, strict=True)
    ]
    envelopes = [make_envelope("llm-proxy", e.user_id, e) for e in events]
    # The same delivery twice, and the first call re-announced under a new event id.
    batch = [*envelopes, envelopes[0], make_envelope("llm-proxy", users[0], events[0])]

    async def apply(session: object) -> None:
        await apply_usage_events(
            session,  # type: ignore[arg-type]
            usage.settings,
            messaging.outbox,
            batch,
        )

    await asyncio.gather(usage.db(apply), usage.db(apply))  # type: ignore[arg-type]

    for user, hold_id in zip(users, holds, strict=True):
        assert await spent(usage, user) == 500
        hold = await usage.db(lambda s, h=hold_id: s.get(Hold, h))
        assert hold is not None and (hold.status, hold.committed_tokens) == ("committed", 500)
        assert (await usage.balance(usage.user_token(user)))["available"] == 9_500


async def test_a_poison_event_does_not_hold_up_the_rest_of_its_batch(usage: Usage) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 1_000_000)
    good = [usage_recorded(user, prompt_tokens=10, completion_tokens=0) for _ in range(20)]
    poison = make_envelope("llm-proxy", user, good[0]).model_copy(
        update={
            "id": uuid.uuid4(),
            "data": {
                **good[0].model_dump(mode="json"),
                "prompt_tokens": -1,
                "request_id": "poison",
            },
        }
    )

    await asyncio.gather(
        usage.broker.publish(poison),
        *(usage.publish(e) for e in good),
    )

    async def all_good_recorded() -> bool:
        count = await usage.db(
            lambda s: s.scalar(select(func.count()).where(UsageRecord.user_id == user))
        )
        return count == len(good)

    await eventually(all_good_recorded)
    assert await spent(usage, user) == 200


async def test_a_bundle_of_calls_settles_each_once_and_a_poison_one_in_it_holds_up_none(
    usage: Usage,
) -> None:
    """llm-proxy's relay sends its usage.recorded rows as bundles, many to a message."""
    user = uuid.uuid4()
    await give_plan(usage, user, 1_000_000)
    good = [
        make_envelope(
            "llm-proxy", user, usage_recorded(user, prompt_tokens=10, completion_tokens=5)
        )
        for _ in range(30)
    ]
    poison = good[0].model_copy(
        update={
            "id": uuid.uuid4(),
            "data": {**good[0].data, "prompt_tokens": -1, "request_id": "poison-in-a-bundle"},
        }
    )
    first = bundle_body([(e.model_dump_json(), {}) for e in good[:20]])
    # The second bundle repeats two calls of the first (a relay that died before marking them
    # sent publishes them again), and carries the poison.
    second = bundle_body([(e.model_dump_json(), {}) for e in [*good[18:], poison]])
    for body, first_id in ((first, good[0].id), (second, good[18].id)):
        await usage.broker.publish_raw(
            body, "usage.recorded", f"{first_id}+n", {}, content_type=BUNDLE_CONTENT_TYPE
        )

    async def recorded() -> int:
        return int(
            await usage.db(
                lambda s: s.scalar(select(func.count()).where(UsageRecord.user_id == user))
            )
            or 0
        )

    await eventually(lambda: _equals(recorded(), len(good)))
    await asyncio.sleep(0.5)
    assert await recorded() == len(good)
    assert await spent(usage, user) == 15 * len(good)


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected
