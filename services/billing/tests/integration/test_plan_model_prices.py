"""The plans list shows what each allowed model costs, from usage's price announcements."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from tollgate.billing.models import messaging
from tollgate.shared.messaging import Broker, Envelope, make_envelope
from tollgate.shared.messaging.events import ModelPricesChanged, PricePerMillion


def announcement(version: int, **prices: tuple[int, int]) -> ModelPricesChanged:
    return ModelPricesChanged(
        version=version,
        prices=[
            PricePerMillion(model=m.replace("_", "-"), input_per_million=i, output_per_million=o)
            for m, (i, o) in prices.items()
        ],
    )


async def plans(client: httpx.AsyncClient) -> dict[str, Any]:
    return {p["code"]: p for p in (await client.get("/api/subscriptions/plans")).json()}


async def applied(app: FastAPI, envelope: Envelope) -> None:
    """Wait until billing's consumer has taken the event (its inbox row)."""
    for _ in range(200):
        async with app.state.sessionmaker() as session:
            seen = await session.scalar(
                select(messaging.inbox.c.message_id).where(
                    messaging.inbox.c.message_id == str(envelope.id)
                )
            )
        if seen is not None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the announcement was never consumed")


async def test_plans_show_the_newest_prices_announced_and_none_before_the_first(
    app: FastAPI, client: httpx.AsyncClient, broker: Broker
) -> None:
    before = await plans(client)
    newer = make_envelope(
        "usage",
        "model_prices",
        announcement(12, gpt_4o_mini=(1_000_000, 1_000_000), gpt_4o=(16_666_667, 16_666_667)),
    )
    older = make_envelope("usage", "model_prices", announcement(11, gpt_4o_mini=(9, 9)))

    await broker.publish(newer)
    await applied(app, newer)
    await broker.publish(older)
    await applied(app, older)
    shown = await plans(client)

    assert all(plan["model_prices"] == [] for plan in before.values())
    assert shown["pro"]["model_prices"] == [
        {"model": m, "input_per_million": p, "output_per_million": p, "unit": "credits"}
        for m, p in (("gpt-4o", 16_666_667), ("gpt-4o-mini", 1_000_000))
    ]
    # The free plan allows gpt-4o-mini and claude-3-5-haiku: only the priced one shows.
    assert [m["model"] for m in shown["free"]["model_prices"]] == ["gpt-4o-mini"]
