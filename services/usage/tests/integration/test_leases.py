"""Leases: one hold that serves many calls, settled call by call and shrunk to what
they used, without ever holding more than the balance or letting a limit slip."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select
from test_model_prices import new_model, set_price
from test_tokens_per_minute import announce, on_plan
from usage_builders import usage_recorded
from usage_harness import Usage, eventually, give_plan, hold_status, recorded, spent

from tollgate.shared.messaging import make_envelope
from tollgate.shared.messaging.events import UserRegistered
from tollgate.usage.metering.apply import apply_usage_events
from tollgate.usage.models import Hold, Member, UsageRecord

# A busy caller asks for room for 32 more calls like this one (100 prompt, 100 completion).
ROOM = {"credits": 32 * 200, "tokens": 32 * 200, "calls": 32, "seconds": 5}
# What three calls of the lease used (prompt, completion): 150 + 200 + 75 credits at the
# reference price, a credit a token.
CALLS = [(100, 50), (100, 100), (50, 25)]
CHARGED = 425
# Room in credits only (the plan's minute and day would refuse long before the balance).
ONLY_CREDITS = {"credits": 10**6, "tokens": 0, "calls": 0, "seconds": 5}


async def take_lease(usage: Usage, token: str, **room: Any) -> dict[str, Any]:
    response = await usage.reserve(
        token, prompt_tokens=100, max_completion_tokens=100, lease={**ROOM, **room}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def shrink(usage: Usage, token: str, lease_id: str, **body: Any) -> httpx.Response:
    return await usage.http.post(
        f"/internal/reservations/{lease_id}/shrink",
        json=body,
        headers=usage.service_headers(token),
    )


async def settle_in_one_batch(
    usage: Usage, user: uuid.UUID, lease_id: str, calls: list[tuple[int, int]]
) -> list[str]:
    """The calls' usage.recorded events, applied together as the ingestor applies a batch."""
    events = [
        usage_recorded(
            user,
            reservation_id=uuid.UUID(lease_id),
            prompt_tokens=prompt,
            completion_tokens=completion,
        )
        for prompt, completion in calls
    ]
    envelopes = [make_envelope("llm-proxy", user, event) for event in events]
    outbox = usage.app.state.usage_ingestor.outbox
    await usage.db(lambda s: apply_usage_events(s, usage.settings, outbox, envelopes))
    return [e.request_id for e in events]


async def the_hold(usage: Usage, lease_id: str) -> Hold:
    found = await usage.db(lambda s: s.get(Hold, uuid.UUID(lease_id)))
    assert found is not None
    return found


async def test_a_lease_holds_its_call_and_room_for_more_and_says_what_it_was_granted(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 100_000)
    token = usage.user_token(user)

    lease = await take_lease(usage, token)

    assert lease["held_tokens"] == lease["lease"]["credits"] == 200 + 32 * 200
    assert lease["available"] == 100_000 - 6_600
    assert lease["lease"]["calls"] == 1 + 32
    assert lease["lease"]["tokens"] == 200 + 32 * 200
    assert lease["lease"]["default_completion_tokens"] > 0
    assert lease["max_completion_tokens"] == 100
    assert (await usage.balance(token))["reserved"] == 6_600


async def test_a_lease_takes_at_most_half_of_what_its_first_call_leaves(usage: Usage) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 2_200)
    token = usage.user_token(user)

    lease = await take_lease(usage, token, credits=10**9)

    assert lease["held_tokens"] == 200 + 1_000
    assert (await usage.balance(token))["available"] == 1_000


async def test_a_retried_lease_request_gets_the_same_lease_and_holds_once(usage: Usage) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 100_000)
    token = usage.user_token(user)
    body = {"request_id": uuid.uuid4().hex, "prompt_tokens": 100, "max_completion_tokens": 100}

    first = await usage.reserve(token, **body, lease=ROOM)
    await settle_in_one_batch(usage, user, first.json()["reservation_id"], CALLS[:1])
    again = await usage.reserve(token, **body, lease=ROOM)

    assert first.status_code == again.status_code == 201
    assert {k: v for k, v in again.json().items() if k != "available"} == {
        k: v for k, v in first.json().items() if k != "available"
    }
    assert (await usage.balance(token))["reserved"] == 6_600 - 150


async def test_a_leases_calls_settled_in_one_batch_charge_exactly_their_sum_and_leave_the_rest_held(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 100_000)
    token = usage.user_token(user)
    lease = await take_lease(usage, token)

    request_ids = await settle_in_one_batch(usage, user, lease["reservation_id"], CALLS)

    assert await spent(usage, user) == CHARGED
    rows = [await recorded(usage, r) for r in request_ids]
    assert [r.charged_credits for r in rows if r] == [150, 200, 75]
    assert {str(r.hold_id) for r in rows if r} == {lease["reservation_id"]}
    hold = await the_hold(usage, lease["reservation_id"])
    assert (hold.status, hold.amount, hold.committed_tokens) == ("held", 6_600 - CHARGED, CHARGED)
    balance = await usage.balance(token)
    assert (balance["available"], balance["reserved"]) == (100_000 - 6_600, 6_600 - CHARGED)


async def test_a_shrink_before_the_events_and_a_shrink_after_them_end_with_the_same_balance(
    usage: Usage,
) -> None:
    early, late = uuid.uuid4(), uuid.uuid4()
    ends = []
    for user, shrink_first in ((early, True), (late, False)):
        await give_plan(usage, user, 100_000)
        token = usage.user_token(user)
        lease = await take_lease(usage, token)
        told = {"credits": CHARGED, "tokens": 425, "calls": 3, "final": True}
        if shrink_first:
            assert (await shrink(usage, token, lease["reservation_id"], **told)).status_code == 200
            assert await hold_status(usage, lease["reservation_id"]) == "held"
        await settle_in_one_batch(usage, user, lease["reservation_id"], CALLS)
        if not shrink_first:
            assert (await shrink(usage, token, lease["reservation_id"], **told)).status_code == 200
        hold = await the_hold(usage, lease["reservation_id"])
        ends.append(
            (
                (await usage.balance(token))["available"],
                await spent(usage, user),
                hold.status,
                hold.amount,
                hold.committed_tokens,
            )
        )

    assert ends[0] == ends[1] == (100_000 - CHARGED, CHARGED, "committed", 0, CHARGED)


async def test_shrinking_twice_changes_nothing_and_a_shrink_never_raises_a_lease(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 100_000)
    token = usage.user_token(user)
    lease = await take_lease(usage, token)

    first = await shrink(
        usage, token, lease["reservation_id"], credits=1_000, tokens=900, calls=5, final=False
    )
    second = await shrink(
        usage, token, lease["reservation_id"], credits=1_000, tokens=900, calls=5, final=False
    )
    older = await shrink(
        usage, token, lease["reservation_id"], credits=3_000, tokens=2_000, calls=9, final=False
    )

    assert first.status_code == second.status_code == older.status_code == 200
    assert first.json() == second.json() == older.json()
    assert first.json()["available"] == 100_000 - 1_000
    assert first.json()["status"] == "held"
    hold = await the_hold(usage, lease["reservation_id"])
    assert (hold.amount, hold.calls) == (1_000, 5)


async def test_a_final_shrink_returns_the_unspent_credits_to_the_available_balance(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 100_000)
    token = usage.user_token(user)
    lease = await take_lease(usage, token)
    await settle_in_one_batch(usage, user, lease["reservation_id"], CALLS)

    response = await shrink(
        usage, token, lease["reservation_id"], credits=CHARGED, tokens=425, calls=3, final=True
    )

    assert response.status_code == 200, response.text
    assert response.json() == {
        "reservation_id": lease["reservation_id"],
        "status": "committed",
        "available": 100_000 - CHARGED,
    }
    assert (await usage.balance(token))["reserved"] == 0


async def test_concurrent_leases_and_plain_holds_on_one_account_never_hold_more_than_the_balance(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 10_000)
    token = usage.user_token(user)

    responses = await asyncio.gather(
        *(
            usage.reserve(
                token,
                prompt_tokens=100,
                max_completion_tokens=100,
                **({"lease": ONLY_CREDITS} if i % 2 else {}),
            )
            for i in range(80)
        )
    )

    granted = [r.json() for r in responses if r.status_code == 201]
    assert {r.status_code for r in responses} == {201, 402}
    assert any(g["lease"] for g in granted) and any(not g["lease"] for g in granted)
    held = sum(g["held_tokens"] for g in granted)
    assert held <= 10_000
    balance = await usage.balance(token)
    assert (balance["reserved"], balance["available"]) == (held, 10_000 - held)


async def test_the_daily_quota_counts_a_leases_calls_until_it_is_shrunk(usage: Usage) -> None:
    code = f"daily-{uuid.uuid4().hex[:8]}"
    await announce(usage, code, 1, daily_requests=5, tokens_per_minute=1_000_000)
    _, token = await on_plan(usage, code)
    lease = await take_lease(usage, token)
    assert lease["lease"]["calls"] == 5

    refused = await usage.reserve(token, prompt_tokens=1, max_completion_tokens=1)
    assert refused.status_code == 429
    assert refused.json()["type"].endswith("daily-quota-exceeded")

    await shrink(
        usage, token, lease["reservation_id"], credits=400, tokens=400, calls=2, final=True
    )
    after = [
        (await usage.reserve(token, prompt_tokens=1, max_completion_tokens=1)).status_code
        for _ in range(4)
    ]
    assert after == [201, 201, 201, 429]


async def test_tokens_per_minute_count_a_leases_budget_until_it_is_shrunk(usage: Usage) -> None:
    code = f"tpm-{uuid.uuid4().hex[:8]}"
    await announce(usage, code, 1, tokens_per_minute=1_000)
    user, token = await on_plan(usage, code)
    lease = await take_lease(usage, token)
    assert (lease["lease"]["tokens"], lease["lease"]["tokens_per_minute"]) == (1_000, 1_000)

    refused = await usage.reserve(token, prompt_tokens=10, max_completion_tokens=10)
    assert refused.status_code == 429
    assert refused.json()["type"].endswith("tokens-per-minute-exceeded")

    # Its calls' settlements leave its count alone: the shrink says what they used.
    await settle_in_one_batch(usage, user, lease["reservation_id"], [(100, 100)])
    still = await usage.reserve(token, prompt_tokens=10, max_completion_tokens=10)
    assert still.status_code == 429

    await shrink(
        usage, token, lease["reservation_id"], credits=200, tokens=200, calls=1, final=True
    )
    fits = await usage.reserve(token, prompt_tokens=300, max_completion_tokens=500)
    assert fits.status_code == 201, fits.text


async def test_a_sub_user_asking_for_a_lease_gets_a_hold_per_call_so_a_lowered_cap_stops_it_at_once(
    usage: Usage,
) -> None:
    parent, child = uuid.uuid4(), uuid.uuid4()
    await usage.publish(UserRegistered(user_id=parent, email="p@example.com"))
    await usage.publish(
        UserRegistered(
            user_id=child, email="c@example.com", parent_user_id=parent, token_limit=1_500
        )
    )
    await eventually(lambda: usage.db(lambda s: s.get(Member, (parent, child))))
    token = usage.user_token(child, parent=parent)

    held = await take_lease(usage, token, credits=10**6)

    assert (held["held_tokens"], held["lease"]) == (200, None)
    hold = await the_hold(usage, held["reservation_id"])
    assert hold.lease_until is None
    # Only the call's own hold counts against the cap: 1,300 of it left.
    refused = await usage.reserve(token, prompt_tokens=1_400, max_completion_tokens=0)
    assert refused.status_code == 402
    assert refused.json()["available"] == 1_300


async def test_an_expired_lease_gives_back_what_it_held_and_its_late_calls_are_still_charged(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 100_000)
    token = usage.user_token(user)
    lease = (
        await usage.reserve(
            token,
            prompt_tokens=100,
            max_completion_tokens=100,
            ttl_seconds=1,
            lease={**ROOM, "seconds": 1},
        )
    ).json()
    await settle_in_one_batch(usage, user, lease["reservation_id"], CALLS[:1])

    async def expired() -> bool:
        return await hold_status(usage, lease["reservation_id"]) == "expired"

    await eventually(expired, timeout=5)
    late = await settle_in_one_batch(usage, user, lease["reservation_id"], CALLS[1:])

    rows = [await recorded(usage, r) for r in late]
    assert [r.charged_credits for r in rows if r] == [200, 75]
    assert await hold_status(usage, lease["reservation_id"]) == "expired"
    assert await spent(usage, user) == CHARGED
    balance = await usage.balance(token)
    assert (balance["available"], balance["reserved"]) == (100_000 - CHARGED, 0)


async def test_bad_shrink_bodies_get_422_and_change_nothing(usage: Usage) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 100_000)
    token = usage.user_token(user)
    lease = await take_lease(usage, token)
    good = {"credits": 0, "tokens": 0, "calls": 0, "final": True}
    bodies: list[Any] = [
        {**good, "credits": -1},
        {**good, "tokens": "5"},
        {**good, "calls": 1.5},
        {**good, "final": "yes"},
        {**good, "credits": 10**30},
        {k: v for k, v in good.items() if k != "final"},
        {**good, "refund": 5},
        [],
    ]

    answers = [
        await usage.http.post(
            f"/internal/reservations/{lease['reservation_id']}/shrink",
            json=body,
            headers=usage.service_headers(token),
        )
        for body in bodies
    ]
    not_json = await usage.http.post(
        f"/internal/reservations/{lease['reservation_id']}/shrink",
        content=b"credits=0",
        headers={**usage.service_headers(token), "content-type": "application/json"},
    )
    bad_id = await usage.http.post(
        "/internal/reservations/not-a-uuid/shrink", json=good, headers=usage.service_headers(token)
    )

    assert [a.status_code for a in answers] == [422] * len(bodies)
    assert not_json.status_code == bad_id.status_code == 422
    assert all(a.headers["content-type"].startswith("application/problem+json") for a in answers)
    hold = await the_hold(usage, lease["reservation_id"])
    assert (hold.status, hold.amount, hold.calls) == ("held", 6_600, 33)


async def test_an_unknown_or_another_users_lease_is_404_and_a_plain_hold_is_409(
    usage: Usage,
) -> None:
    owner, stranger = uuid.uuid4(), uuid.uuid4()
    await give_plan(usage, owner, 100_000)
    token = usage.user_token(owner)
    lease = await take_lease(usage, token)
    plain = (await usage.reserve(token, prompt_tokens=10, max_completion_tokens=10)).json()
    body = {"credits": 0, "tokens": 0, "calls": 0, "final": True}

    unknown = await shrink(usage, token, str(uuid.uuid4()), **body)
    not_a_lease = await shrink(usage, token, plain["reservation_id"], **body)
    theirs = await shrink(usage, usage.user_token(stranger), lease["reservation_id"], **body)
    released = await usage.http.post(
        f"/internal/reservations/{lease['reservation_id']}/release",
        headers=usage.service_headers(token),
    )

    # Another user's lease is not found, as their hold is for a release: no telling it exists.
    assert unknown.status_code == theirs.status_code == 404
    assert not_a_lease.status_code == released.status_code == 409
    assert released.json()["type"].endswith("reservation-is-a-lease")
    assert await hold_status(usage, lease["reservation_id"]) == "held"
    assert (await usage.balance(token))["reserved"] == 6_600 + 20


async def test_a_leases_calls_delivered_again_are_recorded_and_charged_once(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 100_000)
    token = usage.user_token(user)
    lease = await take_lease(usage, token)
    request_ids = await settle_in_one_batch(usage, user, lease["reservation_id"], CALLS)
    envelopes = [
        make_envelope(
            "llm-proxy",
            user,
            usage_recorded(user, request_id=r, reservation_id=uuid.UUID(lease["reservation_id"])),
        )
        for r in request_ids
    ]
    # The same calls delivered again, one by one and in a batch: nothing more is charged.
    outbox = usage.app.state.usage_ingestor.outbox
    await usage.db(lambda s: apply_usage_events(s, usage.settings, outbox, envelopes))
    for envelope in envelopes:
        await usage.db(lambda s, e=envelope: apply_usage_events(s, usage.settings, outbox, [e]))

    assert await spent(usage, user) == CHARGED
    count = await usage.db(
        lambda s: s.scalar(
            select(func.count()).where(UsageRecord.hold_id == uuid.UUID(lease["reservation_id"]))
        )
    )
    assert count == 3
    assert (await the_hold(usage, lease["reservation_id"])).committed_tokens == CHARGED


async def test_a_leases_call_begun_after_a_price_change_pays_the_new_price(usage: Usage) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 1_000_000)
    token = usage.user_token(user)
    model = await new_model(usage, 1_000_000, 1_000_000)
    response = await usage.reserve(
        token, model=model, prompt_tokens=100, max_completion_tokens=100, lease=ROOM
    )
    assert response.status_code == 201, response.text
    lease_id = uuid.UUID(response.json()["reservation_id"])
    before = usage_recorded(user, reservation_id=lease_id, model=model, prompt_tokens=100,
                            completion_tokens=100)  # fmt: skip
    changed = await set_price(usage, model, 3_000_000, 5_000_000)
    assert changed.status_code == 200, changed.text
    after = usage_recorded(user, reservation_id=lease_id, model=model, prompt_tokens=100,
                           completion_tokens=100, started_at=datetime.now(UTC))  # fmt: skip
    outbox = usage.app.state.usage_ingestor.outbox
    envelopes = [make_envelope("llm-proxy", user, e) for e in (before, after)]
    await usage.db(lambda s: apply_usage_events(s, usage.settings, outbox, envelopes))

    old, new = await recorded(usage, before.request_id), await recorded(usage, after.request_id)
    assert old is not None and new is not None
    # Both calls came under a lease priced before the change; each pays its own moment's price.
    assert (old.charged_credits, new.charged_credits) == (200, 300 + 500)
    assert await spent(usage, user) == 200 + 800
