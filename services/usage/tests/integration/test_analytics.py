"""What users and admins read: stats that add up, history, limits, grants, alerts."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import aio_pika
from sqlalchemy import func, select
from usage_builders import usage_recorded
from usage_harness import AMQP_URL, Usage, eventually, give_plan, now

from tollgate.shared.messaging import EXCHANGE
from tollgate.usage.models import Grant, UsageRecord


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def record_calls(usage: Usage, user: uuid.UUID, calls: list[dict[str, Any]]) -> None:
    """Publish one usage.recorded per call and wait until all of them are applied."""

    async def count() -> int:
        total = await usage.db(
            lambda s: s.scalar(select(func.count()).where(UsageRecord.user_id == user))
        )
        return int(total or 0)

    expected = await count() + len(calls)
    for call in calls:
        await usage.publish(usage_recorded(user, **call))

    async def all_recorded() -> bool:
        return await count() == expected

    await eventually(all_recorded)


async def test_stats_by_day_model_provider_and_feature_equal_the_sum_of_raw_usage(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 1_000_000)
    today = now()
    calls = [
        {
            "model": "gpt-4o-mini",
            "provider": "openrouter",
            "prompt_tokens": 100,
            "completion_tokens": 20,
        },
        {
            "model": "gpt-4o-mini",
            "provider": "glama",
            "prompt_tokens": 300,
            "completion_tokens": 40,
            "endpoint": "completions",
        },
        {
            "model": "claude-3-5-haiku",
            "provider": "openrouter",
            "prompt_tokens": 50,
            "completion_tokens": 5,
            "cost_usd": "0.5",
        },
        {
            "model": "claude-3-5-haiku",
            "provider": "a4f",
            "prompt_tokens": 7,
            "completion_tokens": 3,
            "endpoint": "embeddings",
            "started_at": today - timedelta(days=2),
        },
        {
            "model": "gpt-4o",
            "provider": "openai",
            "prompt_tokens": 1_000,
            "completion_tokens": 1,
            "started_at": today - timedelta(days=5),
        },
    ]
    await record_calls(usage, user, calls)
    raw = await usage.db(
        lambda s: s.execute(
            select(
                func.count(), func.sum(UsageRecord.total_tokens), func.sum(UsageRecord.cost_usd)
            ).where(UsageRecord.user_id == user)
        )
    )
    raw_count, raw_tokens, raw_cost = raw.one()
    token = usage.user_token(user)
    start = (today - timedelta(days=6)).date().isoformat()

    for group_by, keys in {
        "day": 3,
        "model": 3,
        "provider": 4,
        "feature": 3,
    }.items():
        response = await usage.http.get(
            "/api/usage/stats",
            params={"group_by": group_by, "start": start},
            headers=auth(token),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) == keys
        assert sum(i["requests"] for i in body["items"]) == raw_count == 5
        assert sum(i["total_tokens"] for i in body["items"]) == raw_tokens
        assert sum(Decimal(i["cost_usd"]) for i in body["items"]) == raw_cost
        assert body["totals"]["total_tokens"] == raw_tokens

    # One model's days (the web dashboard's chart draws each model's series this way).
    haiku = await usage.http.get(
        "/api/usage/stats",
        params={"group_by": "day", "start": start, "model": "claude-3-5-haiku"},
        headers=auth(token),
    )
    assert haiku.status_code == 200, haiku.text
    assert [i["total_tokens"] for i in haiku.json()["items"]] == [10, 55]
    assert haiku.json()["totals"]["requests"] == 2


async def test_a_reversed_or_too_long_date_range_is_refused(usage: Usage) -> None:
    token = usage.user_token(uuid.uuid4())

    reversed_ = await usage.http.get(
        "/api/usage/stats", params={"start": "2026-03-10", "end": "2026-03-01"}, headers=auth(token)
    )
    too_long = await usage.http.get(
        "/api/usage/stats", params={"start": "2020-01-01", "end": "2026-01-01"}, headers=auth(token)
    )
    unknown_group = await usage.http.get(
        "/api/usage/stats", params={"group_by": "colour"}, headers=auth(token)
    )

    assert reversed_.status_code == too_long.status_code == 400
    assert reversed_.json()["type"].endswith("invalid-date-range")
    assert unknown_group.status_code == 422


async def test_usage_history_is_paged_newest_first(usage: Usage) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 1_000_000)
    base = now()
    await record_calls(
        usage,
        user,
        [
            {"started_at": base - timedelta(minutes=i), "request_id": f"h{i}-{user}"}
            for i in range(5)
        ],
    )

    first = (
        await usage.http.get(
            "/api/tokens/usage", params={"page_size": 2}, headers=auth(usage.user_token(user))
        )
    ).json()
    last = (
        await usage.http.get(
            "/api/tokens/usage",
            params={"page_size": 2, "page": 3},
            headers=auth(usage.user_token(user)),
        )
    ).json()

    assert first["total"] == 5
    assert [i["request_id"] for i in first["items"]] == [f"h0-{user}", f"h1-{user}"]
    assert [i["request_id"] for i in last["items"]] == [f"h4-{user}"]


async def test_admin_bonus_tokens_are_spent_after_the_grant_that_expires_first(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 1_000)
    admin = usage.user_token(uuid.uuid4(), role="admin")
    response = await usage.http.post(
        "/api/admin/grants",
        json={
            "account_id": str(user),
            "amount": 5_000,
            "reason": "apology for an outage",
            "expires_at": (now() + timedelta(days=365)).isoformat(),
        },
        headers=auth(admin),
    )
    assert response.status_code == 201, response.text
    token = usage.user_token(user)
    assert (await usage.balance(token))["available"] == 6_000

    await record_calls(usage, user, [{"prompt_tokens": 1_500, "completion_tokens": 0}])

    grants = await usage.db(
        lambda s: s.scalars(select(Grant).where(Grant.account_id == user))  # type: ignore[arg-type,return-value]
    )
    used = {g.source: g.used for g in grants}
    assert used == {"plan": 1_000, "admin": 500}
    assert (await usage.balance(token))["available"] == 4_500


async def test_admin_grants_refuse_bad_amounts_unknown_accounts_and_non_admins(
    usage: Usage,
) -> None:
    admin = usage.user_token(uuid.uuid4(), role="admin")
    body = {"account_id": str(uuid.uuid4()), "amount": 10, "reason": "x"}

    unknown = await usage.http.post("/api/admin/grants", json=body, headers=auth(admin))
    negative = await usage.http.post(
        "/api/admin/grants", json={**body, "amount": -5}, headers=auth(admin)
    )
    absurd = await usage.http.post(
        "/api/admin/grants", json={**body, "amount": 10**15}, headers=auth(admin)
    )
    not_admin = await usage.http.post(
        "/api/admin/grants", json=body, headers=auth(usage.user_token(uuid.uuid4()))
    )
    texts = [
        await usage.http.post(
            "/api/admin/grants", json={**body, "amount": amount}, headers=auth(admin)
        )
        for amount in ("100", 10.0, True)
    ]

    assert unknown.status_code == 404
    assert negative.status_code == absurd.status_code == 422
    assert [t.status_code for t in texts] == [422, 422, 422], "money is a whole number"
    assert not_admin.status_code == 403


async def test_admin_usage_stats_cover_every_account(usage: Usage) -> None:
    user = uuid.uuid4()
    await record_calls(usage, user, [{"prompt_tokens": 10_000_000, "completion_tokens": 0}])
    admin = usage.user_token(uuid.uuid4(), role="admin")

    response = await usage.http.get("/api/admin/usage-stats", headers=auth(admin))
    forbidden = await usage.http.get("/api/admin/usage-stats", headers=auth(usage.user_token(user)))

    assert response.status_code == 200
    assert forbidden.status_code == 403
    body = response.json()
    assert body["top_accounts"][0]["account_id"] == str(user)
    assert body["totals"]["total_tokens"] >= 10_000_000


async def test_balance_low_and_quota_exhausted_go_out_once_per_period(usage: Usage) -> None:
    user = uuid.uuid4()
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, "balance.low")
        await queue.bind(exchange, "quota.exhausted")
        await give_plan(usage, user, 10_000)

        for tokens in (8_500, 100, 5_000, 10):
            await record_calls(usage, user, [{"prompt_tokens": tokens, "completion_tokens": 0}])

        seen: list[tuple[str, int]] = []
        deadline = asyncio.get_running_loop().time() + 5
        while asyncio.get_running_loop().time() < deadline:
            message = await queue.get(fail=False)
            if message is None:
                if len(seen) >= 2:
                    # Long enough for a duplicate to show up if there were one.
                    await asyncio.sleep(0.5)
                    if (message := await queue.get(fail=False)) is None:
                        break
                else:
                    await asyncio.sleep(0.1)
                    continue
            await message.ack()
            envelope = json.loads(message.body)
            if envelope["data"]["account_id"] == str(user):
                seen.append((envelope["type"], envelope["data"]["threshold"]))
    assert seen == [("balance.low", 2_000), ("quota.exhausted", 0)]


async def test_the_extension_tracks_feature_events_and_reads_them_back(usage: Usage) -> None:
    user = uuid.uuid4()
    token = usage.user_token(user)
    events = [
        {"feature": "inline-completion", "action": "shown", "count": 5},
        {"feature": "inline-completion", "action": "accepted", "count": 2},
        {"feature": "chat", "action": "opened"},
    ]

    tracked = await usage.http.post(
        "/api/vscode/usage/track", json={"events": events}, headers=auth(token)
    )
    analytics = await usage.http.get("/api/vscode/analytics", headers=auth(token))

    assert tracked.status_code == 202
    assert tracked.json() == {"accepted": 3}
    body = analytics.json()
    assert {(f["feature"], f["action"], f["count"]) for f in body["features"]} == {
        ("inline-completion", "shown", 5),
        ("inline-completion", "accepted", 2),
        ("chat", "opened", 1),
    }
    assert sum(d["count"] for d in body["by_day"]) == 8


async def test_bad_feature_events_are_refused_whole(usage: Usage) -> None:
    user = uuid.uuid4()
    token = usage.user_token(user)
    good = {"feature": "chat"}

    cases = [
        {"events": []},
        {"events": [good, {"feature": "Not A Name!"}]},
        {"events": [good, {"feature": "chat", "count": 0}]},
        {"events": [good, {"feature": "chat", "occurred_at": "2001-01-01T00:00:00Z"}]},
        {"events": [good] * 101},
    ]
    statuses = [
        (await usage.http.post("/api/vscode/usage/track", json=c, headers=auth(token))).status_code
        for c in cases
    ]

    assert statuses == [422] * 5
    analytics = (await usage.http.get("/api/vscode/analytics", headers=auth(token))).json()
    assert analytics["features"] == []


async def test_feature_tracking_is_rate_bounded_per_user(usage: Usage) -> None:
    token = usage.user_token(uuid.uuid4())
    batch = {"events": [{"feature": "chat"}] * 100}
    limit = usage.settings.track_events_per_minute

    statuses = [
        (
            await usage.http.post("/api/vscode/usage/track", json=batch, headers=auth(token))
        ).status_code
        for _ in range(limit // 100 + 1)
    ]

    assert statuses[:-1] == [202] * (limit // 100)
    assert statuses[-1] == 429


async def test_limits_and_subscription_usage_describe_the_plan_and_the_period(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 10_000)
    await record_calls(usage, user, [{"prompt_tokens": 2_000, "completion_tokens": 500}])
    token = usage.user_token(user)

    limits = (await usage.http.get("/api/tokens/limits", headers=auth(token))).json()
    period = (await usage.http.get("/api/subscriptions/usage", headers=auth(token))).json()

    assert limits["plan"] == "custom"
    assert limits["monthly_tokens"] == 10_000
    assert "llm_requests_per_minute" in limits["limits"]
    assert period["used"] == 2_500
    assert period["available"] == 7_500
    assert period["requests"] == 1
    assert period["percent_used"] == 25.0


async def test_the_free_plan_daily_request_quota_is_enforced(usage: Usage) -> None:
    user = uuid.uuid4()
    token = usage.user_token(user)
    quota = 200  # the free plan's daily_requests

    responses = [
        await usage.reserve(token, prompt_tokens=1, max_completion_tokens=1)
        for _ in range(quota + 1)
    ]

    assert [r.status_code for r in responses[:quota]] == [201] * quota
    assert responses[-1].status_code == 429
    assert responses[-1].json()["type"].endswith("daily-quota-exceeded")
    assert int(responses[-1].headers["retry-after"]) > 0


async def test_dates_beyond_the_calendar_are_a_422_never_a_500(usage: Usage) -> None:
    token = usage.user_token(uuid.uuid4())
    admin = usage.user_token(uuid.uuid4(), role="admin")
    cases = [
        ("/api/usage/stats?end=0001-01-05", token),
        ("/api/usage/stats?start=9999-12-31", token),
        ("/api/usage/stats?start=0001-01-01&end=0001-01-02", token),
        ("/api/admin/usage-stats?end=0001-01-05", admin),
    ]
    for path, who in cases:
        response = await usage.http.get(path, headers=auth(who))
        assert response.status_code == 422, (path, response.text)
        assert "between 2000-01-01 and 2999-12-31" in response.text


async def test_a_nul_or_nan_in_feature_attributes_is_a_400_and_nothing_is_written(
    usage: Usage,
) -> None:
    token = usage.user_token(uuid.uuid4())
    nul = {"events": [{"feature": "chat", "attributes": {"file": "a\x00b"}}]}
    bodies = [
        json.dumps(nul).encode(),
        b'{"events": [{"feature": "chat", "attributes": {"ratio": NaN}}]}',
        b'{"events": [{"feature": "chat", "attributes": {"ratio": -Infinity}}]}',
    ]
    for body in bodies:
        response = await usage.http.post(
            "/api/vscode/usage/track",
            content=body,
            headers={**auth(token), "Content-Type": "application/json"},
        )
        assert response.status_code == 400, (body, response.text)
        assert response.json()["type"].endswith("/unsafe-input")
    analytics = (await usage.http.get("/api/vscode/analytics", headers=auth(token))).json()
    assert analytics["features"] == []
