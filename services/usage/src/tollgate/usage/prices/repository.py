"""Model prices and their history: which price was in force for a model at a moment.

A price is never updated: a change is a new row effective from its moment, so the
price a past call was charged at can always be found again.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.usage.ledger.domain import Price
from tollgate.usage.ledger.store import Db

__all__ = [
    "PriceRow",
    "history",
    "insert_price",
    "lock_price_list",
    "prices_at",
    "prices_in_force",
]


class PriceRow(NamedTuple):
    id: int
    model: str
    input_per_million: int
    output_per_million: int
    effective_from: datetime

    @property
    def price(self) -> Price:
        return Price(self.input_per_million, self.output_per_million)


_IN_FORCE = text(
    "SELECT DISTINCT ON (model) id, model, input_per_million, output_per_million, effective_from"
    " FROM model_prices"
    " WHERE effective_from <= :at ORDER BY model, effective_from DESC"
)
_IN_FORCE_FOR = text(
    "SELECT DISTINCT ON (model) id, model, input_per_million, output_per_million, effective_from"
    " FROM model_prices"
    " WHERE effective_from <= :at AND model = ANY(CAST(:models AS varchar[]))"
    " ORDER BY model, effective_from DESC"
)
# For each (model, moment): the model's row in force then (none if it had no price yet).
_AT = text(
    """
    SELECT q.n, p.input_per_million, p.output_per_million
    FROM unnest(CAST(:models AS varchar[]), CAST(:ats AS timestamptz[])) WITH ORDINALITY
        AS q(model, at, n)
    JOIN LATERAL (
        SELECT input_per_million, output_per_million FROM model_prices
        WHERE model = q.model AND effective_from <= q.at
        ORDER BY effective_from DESC LIMIT 1
    ) p ON true
    """
)
_HISTORY = text(
    "SELECT id, model, input_per_million, output_per_million, effective_from FROM model_prices"
    " WHERE model = :model ORDER BY effective_from DESC"
)
_INSERT = text(
    """
    INSERT INTO model_prices (model, input_per_million, output_per_million, effective_from,
                              set_by)
    VALUES (:model, :input, :output, :at, :set_by)
    RETURNING id, model, input_per_million, output_per_million, effective_from
    """
)
# Changes of the price list take turns, so each snapshot announced has every change
# with a lower version in it.
_LOCK_LIST = text("SELECT pg_advisory_xact_lock(hashtext('usage.model_prices'))")


async def prices_in_force(
    db: Db, at: datetime, models: Collection[str] | None = None
) -> dict[str, PriceRow]:
    """Every model's price in force at ``at`` (only these ``models`` when given)."""
    if models is None:
        rows = await db.execute(_IN_FORCE, {"at": at})
    else:
        rows = await db.execute(_IN_FORCE_FOR, {"at": at, "models": sorted(models)})
    return {r.model: PriceRow(*r) for r in rows}


async def prices_at(db: Db, calls: Sequence[tuple[str, datetime]]) -> list[Price | None]:
    """The price in force for each (model, moment); None where the model had none."""
    found: list[Price | None] = [None] * len(calls)
    if calls:
        params = {"models": [m for m, _ in calls], "ats": [at for _, at in calls]}
        for n, input_price, output_price in await db.execute(_AT, params):
            found[n - 1] = Price(input_price, output_price)
    return found


async def history(session: AsyncSession, model: str) -> list[PriceRow]:
    return [PriceRow(*r) for r in await session.execute(_HISTORY, {"model": model})]


async def lock_price_list(session: AsyncSession) -> None:
    await session.execute(_LOCK_LIST)


async def insert_price(
    session: AsyncSession, model: str, price: Price, at: datetime, set_by: uuid.UUID | None
) -> PriceRow:
    params = {
        "model": model,
        "input": price.input_per_million,
        "output": price.output_per_million,
        "at": at,
        "set_by": set_by,
    }
    return PriceRow(*(await session.execute(_INSERT, params)).one())
