"""Settling metered calls on facts alone: holds committed once, grants drawn in order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tollgate.shared.messaging.events import UsageRecorded
from tollgate.usage.ledger.domain import PER_MILLION, REFERENCE_PRICE, GrantState
from tollgate.usage.ledger.store import HoldRow
from tollgate.usage.metering.decisions import Call, settle

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
ACCOUNT = uuid.uuid4()


def grant(amount: int, *, used: int = 0, expired_minutes_ago: float | None = None) -> GrantState:
    expires = NOW + timedelta(days=30)
    if expired_minutes_ago is not None:
        expires = NOW - timedelta(minutes=expired_minutes_ago)
    return GrantState(uuid.uuid4(), amount, used, 0, NOW - timedelta(days=1), expires)


def hold(amount: int, *, status: str = "held") -> HoldRow:
    return HoldRow(
        id=uuid.uuid4(),
        request_id=uuid.uuid4().hex,
        account_id=ACCOUNT,
        user_id=ACCOUNT,
        model="m",
        amount=amount,
        max_completion_tokens=amount,
        input_per_million=PER_MILLION,
        output_per_million=PER_MILLION,
        status=status,
        created_at=NOW - timedelta(minutes=5),
        expires_at=NOW + timedelta(minutes=5),
    )


def call(
    tokens: int,
    *,
    held: HoldRow | None = None,
    endpoint: str = "chat.completions",
    started_minutes_ago: float = 1,
) -> Call:
    event = UsageRecorded(
        request_id=held.request_id if held else uuid.uuid4().hex,
        reservation_id=held.id if held else None,
        user_id=ACCOUNT,
        model="gpt-4o-mini",
        provider="openrouter",
        endpoint=endpoint,
        prompt_tokens=tokens,
        completion_tokens=0,
        total_tokens=tokens,
        cost_usd=Decimal("0.01"),
        status="success",
        started_at=NOW - timedelta(minutes=started_minutes_ago),
    )
    return Call(event, ACCOUNT, held, None if held else REFERENCE_PRICE)


def test_a_call_commits_its_hold_with_what_it_used_and_the_rest_is_free_again() -> None:
    pool, reserved = grant(10_000), hold(1_000)

    result = settle(
        [call(400, held=reserved)], {ACCOUNT: {pool.id: pool}}, {ACCOUNT: {reserved.id: 1_000}}, NOW
    )

    assert result.committed == {reserved.id: 400}
    assert result.grants_used == {pool.id: 400}
    assert [(s.grant_id, s.amount, s.hold_id) for s in result.spends] == [
        (pool.id, 400, reserved.id)
    ]
    # 9,000 available before, 9,600 after, yet 400 fewer credits: balance alerts look.
    assert result.paid == {ACCOUNT: 9_600}


def test_a_call_beyond_its_hold_takes_only_what_other_holds_leave_free() -> None:
    pool, mine, theirs = grant(1_000), hold(200), hold(700)

    result = settle(
        [call(500, held=mine)],
        {ACCOUNT: {pool.id: pool}},
        {ACCOUNT: {mine.id: 200, theirs.id: 700}},
        NOW,
    )

    (row,) = result.usage
    assert (row.total_tokens, row.charged_credits) == (500, 300)
    assert result.committed == {mine.id: 300}


def test_a_hold_is_charged_once_however_many_calls_name_it() -> None:
    pool, reserved, settled_before = grant(10_000), hold(1_000), hold(1_000, status="committed")

    result = settle(
        [call(300, held=reserved), call(300, held=reserved), call(300, held=settled_before)],
        {ACCOUNT: {pool.id: pool}},
        {ACCOUNT: {reserved.id: 1_000}},
        NOW,
    )

    assert [r.charged_credits for r in result.usage] == [300, 0, 0]
    assert result.committed == {reserved.id: 300}
    assert result.grants_used == {pool.id: 300}


def test_a_grant_that_lapsed_after_the_call_started_still_pays_for_it() -> None:
    lapsed, current = grant(500, expired_minutes_ago=1), grant(500)

    result = settle(
        [call(700, started_minutes_ago=3)],
        {ACCOUNT: {lapsed.id: lapsed, current.id: current}},
        {ACCOUNT: {}},
        NOW,
    )

    assert result.grants_used == {lapsed.id: 500, current.id: 200}
    assert result.paid == {ACCOUNT: 300}


def test_a_call_without_a_hold_is_charged_what_the_balance_allows_and_records_the_rest() -> None:
    pool = grant(1_000, used=900)

    result = settle([call(250)], {ACCOUNT: {pool.id: pool}}, {ACCOUNT: {}}, NOW)

    (row,) = result.usage
    assert (row.total_tokens, row.charged_credits, row.hold_id) == (250, 100, None)
    assert result.paid == {ACCOUNT: 0}


def test_a_failed_call_with_no_tokens_just_releases_its_hold() -> None:
    pool, reserved = grant(1_000), hold(600)

    result = settle(
        [call(0, held=reserved)], {ACCOUNT: {pool.id: pool}}, {ACCOUNT: {reserved.id: 600}}, NOW
    )

    assert result.committed == {reserved.id: 0}
    assert result.spends == [] and result.grants_used == {}
    assert result.paid == {}


def test_a_call_is_charged_at_its_holds_price_whatever_its_model_costs_now() -> None:
    pool = grant(100_000)
    dear = hold(10_000)._replace(input_per_million=20_000_000, output_per_million=25_000_000)
    event = call(0, held=dear).event.model_copy(
        update={"prompt_tokens": 100, "completion_tokens": 3, "total_tokens": 103}
    )

    result = settle(
        [Call(event, ACCOUNT, dear)], {ACCOUNT: {pool.id: pool}}, {ACCOUNT: {dear.id: 10_000}}, NOW
    )

    (row,) = result.usage
    assert (row.charged_credits, row.cost_credits) == (100 * 20 + 3 * 25, 2_075)
    assert (row.input_per_million, row.output_per_million, row.total_tokens) == (
        20_000_000,
        25_000_000,
        103,
    )
    assert result.committed == {dear.id: 2_075}


def test_a_call_of_a_model_without_a_price_is_recorded_and_not_charged() -> None:
    pool = grant(1_000)
    unpriced = Call(call(250).event, ACCOUNT)

    result = settle([unpriced], {ACCOUNT: {pool.id: pool}}, {ACCOUNT: {}}, NOW)

    (row,) = result.usage
    assert (row.total_tokens, row.charged_credits, row.input_per_million) == (250, 0, None)
    assert result.grants_used == {}
