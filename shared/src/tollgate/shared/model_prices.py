"""A service's own copy of the model prices usage announces, for showing them.

Usage owns the prices (credits per million input and output tokens) and publishes
the whole list in ``model_prices.changed`` on every change. A service that shows
prices declares ``price_list_table`` in its metadata (one row), consumes the event
with ``price_list_subscription`` and reads the copy with ``read_price_list``. The
copy keeps the highest ``version`` seen, so a late or repeated event changes
nothing; before the first event there is no copy and nothing shows a price (never
a wrong one). ``python -m tollgate.usage announce-prices`` sends the list again.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, Table, func, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.messaging import Envelope, Subscription
from tollgate.shared.messaging.events import ModelPricesChanged, PricePerMillion

__all__ = [
    "CreditPrice",
    "credit_price",
    "keep_newest",
    "price_list_subscription",
    "price_list_table",
    "read_price_list",
]


class CreditPrice(BaseModel):
    """What a call to a model costs from the balance, as usage charges it."""

    input_per_million: int = Field(description="Credits per million input tokens")
    output_per_million: int = Field(description="Credits per million output tokens")
    unit: Literal["credits"] = "credits"


def credit_price(price: PricePerMillion | None) -> CreditPrice | None:
    if price is None:
        return None
    return CreditPrice(
        input_per_million=price.input_per_million, output_per_million=price.output_per_million
    )


def price_list_table(metadata: MetaData) -> Table:
    return Table(
        "model_price_list",
        metadata,
        Column("id", Integer, primary_key=True),  # always 1: one copy of the list
        Column("version", BigInteger, nullable=False),
        Column("prices", JSONB, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


async def keep_newest(session: AsyncSession, table: Table, event: ModelPricesChanged) -> bool:
    """Store the list if it is newer than the copy; whether it was."""
    prices = [p.model_dump() for p in event.prices]
    statement = insert(table).values(id=1, version=event.version, prices=prices)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={"version": event.version, "prices": prices, "updated_at": func.now()},
        where=table.c.version < event.version,
    )
    result = await session.execute(statement.returning(table.c.id))
    return result.first() is not None


async def read_price_list(session: AsyncSession, table: Table) -> dict[str, PricePerMillion]:
    """The copy, by model; empty before the first announcement."""
    prices = await session.scalar(select(table.c.prices).where(table.c.id == 1))
    return {p["model"]: PricePerMillion.model_validate(p) for p in prices or []}


def price_list_subscription(queue: str, table: Table) -> Subscription:
    async def apply(session: AsyncSession, envelope: Envelope) -> None:
        await keep_newest(session, table, ModelPricesChanged.model_validate(envelope.data))

    return Subscription(queue, [ModelPricesChanged.event_type], apply)
