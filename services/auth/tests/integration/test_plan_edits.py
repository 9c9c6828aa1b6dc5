"""vscode-config shows a plan as its admins last edited it, not as the account got it."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from auth_helpers import AMQP_URL, register
from test_plans_admin_vscode import announce_plan, wait_for_tier

from tollgate.shared.messaging import Broker, make_envelope
from tollgate.shared.messaging.events import PlanUpdated


async def edit_plan(code: str, version: int, models: list[str], tokens_per_minute: int) -> None:
    limits = {
        "requests_per_minute": 600,
        "llm_requests_per_minute": 60,
        "tokens_per_minute": tokens_per_minute,
        "daily_requests": None,
        "allowed_models": models,
    }
    broker = Broker(AMQP_URL)
    await broker.connect()
    try:
        event = PlanUpdated(
            code=code, active=True, monthly_tokens=1, limits=limits, version=version
        )
        await broker.publish(make_envelope("billing", code, event))
    finally:
        await broker.close()


async def limits_shown(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, object]:
    config = (await client.get("/api/auth/vscode-config", headers=headers)).json()
    limits: dict[str, object] = config["limits"]
    return limits


async def test_an_admins_edit_of_the_plan_reaches_vscode_config_within_seconds(
    client: httpx.AsyncClient,
) -> None:
    code = f"team-{uuid.uuid4().hex[:8]}"
    user = await register(client)
    await announce_plan(user.id, code, sequence=2)
    await wait_for_tier(client, user.headers, code)
    assert (await limits_shown(client, user.headers))["allowed_models"] == ["*"]

    await edit_plan(code, 2, ["gpt-4o-mini"], tokens_per_minute=1_234)
    await edit_plan(code, 1, ["gpt-4o", "o1"], tokens_per_minute=9)  # older, arriving late

    for _ in range(100):
        limits = await limits_shown(client, user.headers)
        if limits["allowed_models"] == ["gpt-4o-mini"]:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    limits = await limits_shown(client, user.headers)
    assert limits["allowed_models"] == ["gpt-4o-mini"]
    assert limits["tokens_per_minute"] == 1_234
