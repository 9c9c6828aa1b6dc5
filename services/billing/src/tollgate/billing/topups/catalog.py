"""The credit pack catalog: seeded once, then created, edited and retired by admins.

A pack is never deleted: purchases point at it. Retiring (``active: false``) takes it
off the list people buy from; a purchase already started keeps the terms it was shown.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.models import CreditPack
from tollgate.billing.topups import repository
from tollgate.billing.topups.schemas import PackIn, PackUpdate
from tollgate.shared.errors import BadRequest, Conflict, NotFound

# One credit is one token of the reference model: a pack of 5 M credits buys what the
# pro plan's month gives, for the plan's price.
DEFAULT_PACKS: list[dict[str, Any]] = [
    {"code": "credits-1m", "name": "1 million credits", "credits": 1_000_000, "price_cents": 500},
    {"code": "credits-5m", "name": "5 million credits", "credits": 5_000_000, "price_cents": 2000},
    {
        "code": "credits-25m",
        "name": "25 million credits",
        "credits": 25_000_000,
        "price_cents": 9000,
    },
]


async def seed_packs(session: AsyncSession) -> None:
    """Write the default packs that do not exist yet; an admin's edits are kept."""
    for pack in DEFAULT_PACKS:
        await repository.insert_pack(session, {"currency": "usd", "valid_days": 365, **pack})


async def create_pack(session: AsyncSession, body: PackIn) -> CreditPack:
    if not await repository.insert_pack(session, body.model_dump()):
        raise Conflict(f"A pack called {body.code!r} exists already", type_slug="pack-exists")
    pack = await repository.get_pack(session, body.code)
    assert pack is not None
    return pack


async def update_pack(session: AsyncSession, code: str, change: PackUpdate) -> CreditPack:
    pack = await repository.get_pack(session, code)
    if pack is None:
        raise NotFound(f"There is no credit pack called {code!r}", type_slug="unknown-pack")
    fields = change.model_dump(exclude_unset=True)
    for name in ("name", "credits", "price_cents", "active"):
        if name in fields and fields[name] is None:
            raise BadRequest(f"{name} cannot be null", type_slug="invalid-pack")
    for name, value in fields.items():
        setattr(pack, name, value)
    await session.flush()
    return pack


async def for_sale(session: AsyncSession, code: str) -> CreditPack:
    """The pack a buyer named; unknown or retired packs are the buyer's mistake."""
    pack = await repository.get_pack(session, code)
    if pack is None or not pack.active:
        raise NotFound(
            f"There is no credit pack called {code!r} for sale", type_slug="unknown-pack"
        )
    return pack
