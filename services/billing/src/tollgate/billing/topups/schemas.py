"""Request and response bodies of the credit packs, purchases and auto top-up."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from tollgate.billing.subscriptions.schemas import AccountChoice

# A pack's size and price: whole numbers (a JSON 1.5 or "5" is refused), positive, and
# below amounts no one sells: a trillion credits, a million dollars.
Credits = Annotated[int, Field(gt=0, le=1_000_000_000_000, strict=True)]
PriceCents = Annotated[int, Field(gt=0, le=100_000_000, strict=True)]
# Longer than any month, so a pack bought today is drawn after this month's plan grant.
ValidDays = Annotated[int, Field(ge=32, le=3650, strict=True)]
PackCode = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$")]


class PackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: PackCode
    name: str = Field(min_length=1, max_length=100)
    credits: Credits
    price_cents: PriceCents
    currency: str = Field("usd", pattern=r"^[a-z]{3}$")
    # Days the credits stay spendable after purchase; null: until spent.
    valid_days: ValidDays | None = None
    active: bool = True


class PackUpdate(BaseModel):
    """Only the fields sent change; ``valid_days: null`` makes the credits last until spent."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100)
    credits: Credits | None = None
    price_cents: PriceCents | None = None
    valid_days: ValidDays | None = None
    active: bool | None = None


class PackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    credits: int
    price_cents: int
    currency: str
    valid_days: int | None
    active: bool


class BuyPackRequest(AccountChoice):
    success_url: HttpUrl | None = None
    cancel_url: HttpUrl | None = None


class PackCheckoutOut(BaseModel):
    purchase_id: uuid.UUID
    checkout_url: str
    session_id: str


class PurchaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    account_id: uuid.UUID
    pack_code: str
    credits: int
    price_cents: int
    currency: str
    # checkout: bought on a Checkout page; auto: bought by auto top-up.
    kind: str
    # open (Checkout page waiting), pending, paid, expired or failed.
    status: str
    credits_refunded: int
    failure: str | None
    created_at: datetime
    paid_at: datetime | None
    credits_expire_at: datetime | None


class PurchasePage(BaseModel):
    items: list[PurchaseOut]
    total: int
    limit: int
    offset: int


class AutoTopUpIn(AccountChoice):
    enabled: bool
    # Buy when the available balance falls below this many credits.
    threshold: Credits
    pack_code: PackCode


class AutoTopUpOut(BaseModel):
    account_id: uuid.UUID
    enabled: bool
    threshold: int
    pack_code: str | None
    # Why billing turned it off (a declined card), until the person turns it on again.
    disabled_reason: str | None
