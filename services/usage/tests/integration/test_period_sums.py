"""A period's used tokens and calls, read from the rollup's whole days and the calls at
its edges, equal the sum of the calls that started inside the period, no more."""

from __future__ import annotations

import uuid
from datetime import timedelta

from test_analytics import auth, record_calls
from usage_builders import subscription_changed
from usage_harness import Usage, eventually, now

from tollgate.usage.models import Account


async def test_used_this_period_counts_calls_inside_it_on_whole_and_partial_days_only(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    start = now() - timedelta(days=3, hours=5)
    await usage.publish(subscription_changed(user, sequence=1, plan="custom", period_start=start))

    async def opened() -> bool:
        account = await usage.db(lambda s: s.get(Account, user))
        return account is not None and account.plan == "custom"

    await eventually(opened)
    calls = [
        (start - timedelta(minutes=1), 1_000),  # before the period: not counted
        (start + timedelta(minutes=1), 100),  # the partial first day
        (start + timedelta(days=1), 20),  # a whole day inside
        (start + timedelta(days=2, hours=1), 3),  # another whole day
        (now() - timedelta(minutes=1), 4),  # today, the partial last day so far
    ]
    await record_calls(
        usage,
        user,
        [
            {"started_at": at, "prompt_tokens": tokens, "completion_tokens": 0}
            for at, tokens in calls
        ],
    )

    balance = await usage.http.get("/api/tokens/balance", headers=auth(usage.user_token(user)))
    period = await usage.http.get("/api/subscriptions/usage", headers=auth(usage.user_token(user)))

    assert balance.json()["used_this_period"] == 127
    assert period.json()["used"] == 127
    assert period.json()["requests"] == 4
