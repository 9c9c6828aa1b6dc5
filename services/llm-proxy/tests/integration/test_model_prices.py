"""/v1/models shows each model's price in credits from the proxy's copy of usage's list."""

from __future__ import annotations

from typing import Any

from llm_stack import Stack
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.llm_proxy.models import price_list
from tollgate.shared.messaging.events import ModelPricesChanged, PricePerMillion
from tollgate.shared.model_prices import keep_newest


async def announced(stack: Stack, version: int, price_in: int, price_out: int) -> bool:
    event = ModelPricesChanged(
        version=version,
        prices=[
            PricePerMillion(
                model="gpt-test", input_per_million=price_in, output_per_million=price_out
            )
        ],
    )
    async with AsyncSession(stack.engine) as session, session.begin():
        return await keep_newest(session, price_list, event)


async def credits_shown(stack: Stack, token: str) -> Any:
    async with stack.http(token) as http:
        listed = (await http.get("/v1/models")).json()["data"]
        one = (await http.get("/v1/models/gpt-test")).json()
    (entry,) = [m for m in listed if m["id"] == "gpt-test"]
    assert entry["credits"] == one["credits"]
    return entry["credits"]


async def test_models_show_no_price_before_usage_announces_one_then_the_newest(
    fresh: Stack,
) -> None:
    _, token = fresh.user()
    async with AsyncSession(fresh.engine) as session, session.begin():
        await session.execute(delete(price_list))

    before = await credits_shown(fresh, token)
    assert await announced(fresh, 7, 2_000_000, 3_000_000)
    assert not await announced(fresh, 6, 9, 9)  # late and older: changes nothing
    after = await credits_shown(fresh, token)

    assert before is None
    assert after == {
        "input_per_million": 2_000_000,
        "output_per_million": 3_000_000,
        "unit": "credits",
    }
