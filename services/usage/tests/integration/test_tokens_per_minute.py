"""Tokens per minute from the plan, and a plan's edits reaching every account on it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from usage_builders import subscription_changed, usage_recorded
from usage_harness import Usage, eventually, now

from tollgate.shared.messaging.events import PlanUpdated
from tollgate.usage.models import Account, PlanCatalogEntry

LIMITS: dict[str, Any] = {
    "requests_per_minute": 600,
    "llm_requests_per_minute": 60,
    "tokens_per_minute": 1_000,
    "daily_requests": None,
    "allowed_models": ["*"],
}


async def announce(usage: Usage, code: str, version: int, **limits: Any) -> None:
    await usage.publish(
        PlanUpdated(
            code=code,
            active=True,
            monthly_tokens=1_000_000,
            limits={**LIMITS, **limits},
            version=version,
        ),
        source="billing",
    )

    async def stored() -> bool:
        entry = await usage.db(lambda s: s.get(PlanCatalogEntry, code))
        return entry is not None and entry.version >= version

    await eventually(stored)


async def on_plan(usage: Usage, code: str) -> tuple[uuid.UUID, str]:
    """A user subscribed to ``code`` (its own plan, so tests do not share limits)."""
    user = uuid.uuid4()
    await usage.publish(
        subscription_changed(
            user, sequence=1, plan=code, monthly_tokens=1_000_000, period_start=now()
        )
    )

    async def applied() -> bool:
        account = await usage.db(lambda s: s.get(Account, user))
        return account is not None and account.plan == code

    await eventually(applied)
    return user, usage.user_token(user, plan=code)


async def age_the_minute(usage: Usage, user: uuid.UUID, seconds: int) -> None:
    """Move the user's counted tokens back in time, as if ``seconds`` had passed."""
    await usage.db(
        lambda s: s.execute(
            text(
                "UPDATE minute_tokens SET counted_at = counted_at - make_interval(secs => :s)"
                " WHERE user_id = :u"
            ),
            {"s": seconds, "u": user},
        )
    )


async def test_the_call_that_would_exceed_the_minute_gets_429_with_retry_after(
    usage: Usage,
) -> None:
    code = f"tpm-{uuid.uuid4().hex[:8]}"
    await announce(usage, code, 1)
    user, token = await on_plan(usage, code)

    first = await usage.reserve(token, prompt_tokens=300, max_completion_tokens=300)
    second = await usage.reserve(token, prompt_tokens=300, max_completion_tokens=300)

    assert first.status_code == 201, first.text
    assert second.status_code == 429
    assert second.headers["content-type"].startswith("application/problem+json")
    assert second.json()["type"].endswith("tokens-per-minute-exceeded")
    assert second.json()["tokens_per_minute"] == 1_000
    assert 59 <= int(second.headers["Retry-After"]) <= 60

    await age_the_minute(usage, user, 61)
    again = await usage.reserve(token, prompt_tokens=300, max_completion_tokens=300)
    assert again.status_code == 201, again.text


async def test_settlement_counts_what_the_call_used_so_the_rest_of_the_minute_is_free(
    usage: Usage,
) -> None:
    code = f"tpm-{uuid.uuid4().hex[:8]}"
    await announce(usage, code, 1)
    user, token = await on_plan(usage, code)
    hold = (await usage.reserve(token, prompt_tokens=100, max_completion_tokens=700)).json()
    assert (
        await usage.reserve(token, prompt_tokens=100, max_completion_tokens=200)
    ).status_code == 429

    await usage.publish(
        usage_recorded(
            user,
            reservation_id=uuid.UUID(hold["reservation_id"]),
            prompt_tokens=100,
            completion_tokens=50,
        )
    )

    async def admitted() -> bool:
        response = await usage.reserve(token, prompt_tokens=100, max_completion_tokens=200)
        return response.status_code == 201

    await eventually(admitted)


async def test_a_released_hold_counts_nothing_in_the_minute(usage: Usage) -> None:
    code = f"tpm-{uuid.uuid4().hex[:8]}"
    await announce(usage, code, 1)
    _, token = await on_plan(usage, code)
    hold = (await usage.reserve(token, prompt_tokens=100, max_completion_tokens=800)).json()
    assert (
        await usage.reserve(token, prompt_tokens=100, max_completion_tokens=800)
    ).status_code == 429

    released = await usage.http.post(
        f"/internal/reservations/{hold['reservation_id']}/release",
        headers=usage.service_headers(token),
    )

    assert released.status_code == 200
    assert (
        await usage.reserve(token, prompt_tokens=100, max_completion_tokens=800)
    ).status_code == 201


async def test_an_admin_raising_the_limit_admits_the_next_call_and_an_older_version_is_ignored(
    usage: Usage,
) -> None:
    code = f"tpm-{uuid.uuid4().hex[:8]}"
    await announce(usage, code, 1)
    _, token = await on_plan(usage, code)
    assert (
        await usage.reserve(token, prompt_tokens=500, max_completion_tokens=400)
    ).status_code == 201
    assert (
        await usage.reserve(token, prompt_tokens=500, max_completion_tokens=400)
    ).status_code == 429

    await announce(usage, code, 3, tokens_per_minute=5_000)
    await announce(usage, "free", 0)  # another plan's news changes nothing here
    await usage.publish(
        PlanUpdated(code=code, active=True, monthly_tokens=1, limits=LIMITS, version=2)
    )

    assert (
        await usage.reserve(token, prompt_tokens=500, max_completion_tokens=400)
    ).status_code == 201
    limits = await usage.http.get(
        "/api/tokens/limits", headers={"Authorization": f"Bearer {token}"}
    )
    assert limits.json()["limits"]["tokens_per_minute"] == 5_000


async def test_a_lowered_daily_quota_applies_to_accounts_already_on_the_plan(usage: Usage) -> None:
    code = f"daily-{uuid.uuid4().hex[:8]}"
    await announce(usage, code, 1, tokens_per_minute=100_000)
    _, token = await on_plan(usage, code)
    assert (
        await usage.reserve(token, prompt_tokens=10, max_completion_tokens=10)
    ).status_code == 201

    await announce(usage, code, 2, tokens_per_minute=100_000, daily_requests=1)

    refused = await usage.reserve(token, prompt_tokens=10, max_completion_tokens=10)
    assert refused.status_code == 429
    assert refused.json()["type"].endswith("daily-quota-exceeded")
