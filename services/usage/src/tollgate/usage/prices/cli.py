"""``python -m tollgate.usage announce-prices``: publish the price list in force again.

Services that show prices keep their own copy from ``model_prices.changed``; one
deployed after the last change (or that lost its copy) learns the list here. Run
once after a deploy; announcing the same list again changes nothing.
"""

from __future__ import annotations

import asyncio

from tollgate.shared.db import create_engine, create_sessionmaker
from tollgate.usage.config import Settings
from tollgate.usage.models import messaging
from tollgate.usage.prices.service import announce

__all__ = ["announce_prices", "main"]


async def announce_prices(settings: Settings) -> str:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            count = await announce(session, messaging.outbox)
            return f"announced the prices of {count} models"
    finally:
        await engine.dispose()


def main() -> None:
    print(asyncio.run(announce_prices(Settings())))
