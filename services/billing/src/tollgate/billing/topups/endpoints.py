"""Routes of the credit packs: the catalog, buying one, the purchases, auto top-up."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from tollgate.billing.context import BillingDep
from tollgate.billing.members.access import Access, account_of
from tollgate.billing.topups import auto, catalog, purchases, repository
from tollgate.billing.topups.schemas import (
    AutoTopUpIn,
    AutoTopUpOut,
    BuyPackRequest,
    PackCheckoutOut,
    PackIn,
    PackOut,
    PackUpdate,
    PurchaseOut,
    PurchasePage,
)
from tollgate.shared.db import SessionDep
from tollgate.shared.openapi import problems
from tollgate.shared.security import AdminUser, CurrentUser

# An unknown pack (404), another's organization (403/404), no saved card or a pack code taken (409).
router = APIRouter(tags=["credit packs"], responses=problems(400, 403, 404, 409))


@router.get("/api/billing/credit-packs", response_model=list[PackOut])
async def list_packs(session: SessionDep, _: CurrentUser) -> list[PackOut]:
    """The credit packs for sale, cheapest first."""
    rows = await repository.list_packs(session, only_active=True)
    return [PackOut.model_validate(p) for p in rows]


@router.post("/api/billing/credit-packs/{code}/checkout", response_model=PackCheckoutOut)
async def buy_pack(
    code: str,
    session: SessionDep,
    billing: BillingDep,
    user: CurrentUser,
    body: BuyPackRequest | None = None,
) -> PackCheckoutOut:
    """A Stripe Checkout page that buys the pack once; asked again while open, the same page."""
    return await purchases.buy(
        session, billing.stripe, billing.settings, user, code, body or BuyPackRequest()
    )


@router.get("/api/billing/purchases", response_model=PurchasePage)
async def list_purchases(
    session: SessionDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    org_id: uuid.UUID | None = None,
) -> PurchasePage:
    """The account's credit pack purchases, newest first."""
    account = await account_of(session, user, org_id, Access.READ)
    rows, total = await repository.page_purchases(session, account.id, limit, offset)
    items = [PurchaseOut.model_validate(r) for r in rows]
    return PurchasePage(items=items, total=total, limit=limit, offset=offset)


@router.get("/api/billing/auto-top-up", response_model=AutoTopUpOut)
async def get_auto_top_up(
    session: SessionDep, user: CurrentUser, org_id: uuid.UUID | None = None
) -> AutoTopUpOut:
    """The account's auto top-up setting (off until someone sets it)."""
    return await auto.current(session, user, org_id)


@router.put("/api/billing/auto-top-up", response_model=AutoTopUpOut)
async def put_auto_top_up(
    body: AutoTopUpIn, session: SessionDep, billing: BillingDep, user: CurrentUser
) -> AutoTopUpOut:
    """Buy a pack with the saved card whenever the balance falls below a threshold."""
    return await auto.configure(session, billing.stripe, user, body)


@router.get("/api/admin/credit-packs", response_model=list[PackOut])
async def all_packs(session: SessionDep, _: AdminUser) -> list[PackOut]:
    """Every credit pack, retired ones included (admins)."""
    rows = await repository.list_packs(session, only_active=False)
    return [PackOut.model_validate(p) for p in rows]


@router.post("/api/admin/credit-packs", response_model=PackOut, status_code=status.HTTP_201_CREATED)
async def create_pack(body: PackIn, session: SessionDep, _: AdminUser) -> PackOut:
    """Add a credit pack to the catalog (admins)."""
    return PackOut.model_validate(await catalog.create_pack(session, body))


@router.patch("/api/admin/credit-packs/{code}", response_model=PackOut)
async def update_pack(code: str, change: PackUpdate, session: SessionDep, _: AdminUser) -> PackOut:
    """Edit or retire (``active: false``) a credit pack (admins); started purchases keep theirs."""
    return PackOut.model_validate(await catalog.update_pack(session, code, change))
