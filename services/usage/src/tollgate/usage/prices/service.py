"""Setting a model's price and telling everyone who shows prices.

Each change writes a new row of the price history and, in the same transaction,
``model_prices.changed`` with the whole list in force (its version is the new
row's id, so a consumer keeps the highest). ``announce`` sends the current list
once more, for a consumer that started after the last change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.errors import NotFound
from tollgate.shared.messaging.events import ModelPricesChanged, PricePerMillion
from tollgate.shared.messaging.outbox import add_event
from tollgate.shared.security import Principal
from tollgate.usage.ledger.domain import Price
from tollgate.usage.prices import repository
from tollgate.usage.prices.repository import PriceRow
from tollgate.usage.prices.schemas import PriceHistoryOut, PriceIn, PriceListOut, PriceOut

__all__ = ["announce", "price_history", "price_list", "set_price"]


def _out(row: PriceRow) -> PriceOut:
    return PriceOut(
        model=row.model,
        input_per_million=row.input_per_million,
        output_per_million=row.output_per_million,
        effective_from=row.effective_from,
    )


async def price_list(session: AsyncSession) -> PriceListOut:
    rows = await repository.prices_in_force(session, datetime.now(UTC))
    version = max((r.id for r in rows.values()), default=0)
    return PriceListOut(version=version, prices=[_out(r) for _, r in sorted(rows.items())])


async def price_history(session: AsyncSession, model: str) -> PriceHistoryOut:
    rows = await repository.history(session, model)
    if not rows:
        raise NotFound(f"{model} has no price")
    return PriceHistoryOut(model=model, prices=[_out(r) for r in rows])


async def set_price(
    session: AsyncSession, outbox: Table, admin: Principal, model: str, body: PriceIn
) -> PriceOut:
    """The model's new price, in force from now: holds made before keep theirs."""
    await repository.lock_price_list(session)
    now = datetime.now(UTC)
    latest = await repository.history(session, model)
    if latest and latest[0].effective_from >= now:
        now = latest[0].effective_from + timedelta(microseconds=1)  # a clock that stepped back
    price = Price(body.input_per_million, body.output_per_million)
    row = await repository.insert_price(session, model, price, now, admin.user_id)
    await _publish(session, outbox, row.id, now)
    return _out(row)


async def announce(session: AsyncSession, outbox: Table) -> int:
    """Publish the list in force again; returns how many models it prices."""
    await repository.lock_price_list(session)
    now = datetime.now(UTC)
    return await _publish(session, outbox, None, now)


async def _publish(session: AsyncSession, outbox: Table, version: int | None, at: datetime) -> int:
    rows = await repository.prices_in_force(session, at)
    data = ModelPricesChanged(
        version=version if version is not None else max((r.id for r in rows.values()), default=0),
        prices=[
            PricePerMillion(
                model=r.model,
                input_per_million=r.input_per_million,
                output_per_million=r.output_per_million,
            )
            for _, r in sorted(rows.items())
        ],
    )
    await add_event(session, outbox, "usage", "model_prices", data)
    return len(rows)
