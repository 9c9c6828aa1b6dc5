"""Moving in from another backend: opening balances, carried grants, past usage."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from usage_builders import subscription_changed
from usage_harness import Usage, eventually, now

from tollgate.shared.messaging.events import UserRegistered
from tollgate.usage.models import Account, DailyUsage, Grant, UsageRecord


def admin_headers(usage: Usage, role: str = "superadmin") -> dict[str, str]:
    return {"Authorization": f"Bearer {usage.user_token(uuid.uuid4(), role=role)}"}


async def post(usage: Usage, path: str, body: dict[str, Any], role: str = "superadmin") -> Any:
    return await usage.http.post(
        f"/api/admin/imports/{path}", json=body, headers=admin_headers(usage, role)
    )


def opening(account: uuid.UUID, start: Any, allocation: int, remaining: int) -> dict[str, Any]:
    return {
        "source": "old/users",
        "source_id": f"{account}#balance",
        "account_id": str(account),
        "period_start": start.isoformat(),
        "period_end": (start + timedelta(days=30)).isoformat(),
        "allocation": allocation,
        "remaining": remaining,
    }


async def wait_for_plan(usage: Usage, account: uuid.UUID) -> None:
    async def applied() -> bool:
        row = await usage.db(lambda s: s.get(Account, account))
        return row is not None and row.subscription_sequence == 1

    await eventually(applied)


@pytest.mark.parametrize("balance_first", [True, False])
async def test_an_opening_balance_leaves_what_the_old_system_had_whichever_comes_first(
    usage: Usage, balance_first: bool
) -> None:
    user = uuid.uuid4()
    start = now() - timedelta(days=5)
    plan = subscription_changed(user, sequence=1, monthly_tokens=10_000, period_start=start)
    if not balance_first:
        await usage.publish(plan)
        await wait_for_plan(usage, user)

    answer = await post(usage, "balances", opening(user, start, 10_000, 2_500))

    assert answer.status_code == 201, answer.text
    if balance_first:
        await usage.publish(plan)
        await wait_for_plan(usage, user)
    balance = await usage.balance(usage.user_token(user))
    assert balance["available"] == 2_500
    again = await post(usage, "balances", opening(user, start, 10_000, 2_500))
    assert (again.status_code, again.json()) == (200, {"created": False})
    assert (await usage.balance(usage.user_token(user)))["available"] == 2_500


async def test_a_balance_above_the_allocation_keeps_the_excess_until_the_period_ends(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    start = now() - timedelta(days=1)

    await post(usage, "balances", opening(user, start, 1_000, 1_600))

    balance = await usage.balance(usage.user_token(user))
    assert balance["available"] == 1_600


async def test_an_imported_account_gets_no_free_allocation_of_its_own(usage: Usage) -> None:
    user = uuid.uuid4()
    registered = UserRegistered(user_id=user, email=f"{user}@example.com")
    await usage.publish(UserRegistered.model_validate(registered.model_dump() | {"imported": True}))

    account = await eventually(lambda: usage.db(lambda s: s.get(Account, user)))

    grants = await usage.db(
        lambda s: s.scalar(select(func.count()).where(Grant.account_id == account.id))
    )
    assert grants == 0


async def test_promotional_units_are_granted_once_with_their_expiry(usage: Usage) -> None:
    user = uuid.uuid4()
    expiry = now() + timedelta(days=40)
    body = {
        "source": "old/subscriptions",
        "source_id": "s1#promotional",
        "account_id": str(user),
        "amount": 700,
        "expires_at": expiry.isoformat(),
    }

    first = await post(usage, "grants", body)
    second = await post(usage, "grants", body)

    assert (first.status_code, second.status_code) == (201, 200)
    balance = await usage.balance(usage.user_token(user))
    assert balance["available"] == 700
    assert [g["source"] for g in balance["grants"]] == ["promotional"]


async def test_past_usage_goes_into_the_history_and_the_rollup_once(usage: Usage) -> None:
    user = uuid.uuid4()
    started = now() - timedelta(days=70)
    records = [
        {
            "source_id": f"{user}-{i}",
            "account_id": str(user),
            "user_id": str(user),
            "model": "gpt-4",
            "provider": "openai",
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "cost_usd": "0.0003",
            "started_at": (started + timedelta(hours=i)).isoformat(),
        }
        for i in range(30)
    ]

    first = await post(usage, "usage", {"source": "old", "records": records})
    # A resumed run sends an overlapping batch: only the new rows count.
    second = await post(usage, "usage", {"source": "old", "records": records[20:] + records[:5]})

    assert first.json() == {"imported": 30, "skipped": 0}
    assert second.json() == {"imported": 0, "skipped": 15}
    requests = await usage.db(
        lambda s: s.scalar(select(func.sum(DailyUsage.requests)).where(DailyUsage.user_id == user))
    )
    rows = await usage.db(
        lambda s: s.scalar(select(func.count()).where(UsageRecord.user_id == user))
    )
    assert (requests, rows) == (30, 30)
    stats = await usage.http.get(
        "/api/usage/stats",
        params={"start": str(started.date()), "group_by": "model"},
        headers={"Authorization": f"Bearer {usage.user_token(user)}"},
    )
    assert stats.json()["totals"]["total_tokens"] == 450


async def test_imports_need_a_superadmin_and_refuse_bad_input_with_a_4xx(usage: Usage) -> None:
    user = uuid.uuid4()
    start = now()

    as_admin = await post(usage, "balances", opening(user, start, 10, 5), role="admin")
    backwards = opening(user, start, 10, 5) | {"period_end": start.isoformat()}
    bad = await post(usage, "balances", backwards)

    assert as_admin.status_code == 403
    assert bad.status_code == 422


async def test_dates_outside_the_years_the_ledger_can_reckon_with_are_refused(usage: Usage) -> None:
    user = uuid.uuid4()
    year_one = opening(user, now(), 10, 5) | {"period_start": "0001-01-01T00:00:00Z"}
    grant = {
        "source": "old/promos",
        "source_id": f"{user}#promo",
        "account_id": str(user),
        "amount": 100,
        "grant_source": "promotional",
        "expires_at": "9999-12-31T00:00:00Z",
    }

    early = await post(usage, "balances", year_one)
    late = await post(usage, "grants", grant)

    assert (early.status_code, late.status_code) == (422, 422)
    assert "between 2000-01-01 and 2999-12-31" in early.text
    grants = (await usage.balance(usage.user_token(user)))["grants"]
    assert not [g for g in grants if g.get("source") == "promotional"]
