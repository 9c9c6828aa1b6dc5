"""Routes of /api/billing (portal, invoices, payments) and billing's admin money routes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from tollgate.billing.context import BillingDep
from tollgate.billing.invoices import service
from tollgate.billing.invoices.schemas import (
    InvoiceOut,
    Page,
    PaymentOut,
    RefundOut,
    RefundRequest,
    RevenueOut,
)
from tollgate.billing.members.access import Access, account_of
from tollgate.billing.subscriptions.schemas import PortalRequest
from tollgate.billing.subscriptions.service import stripe_customer
from tollgate.shared.db import SessionDep
from tollgate.shared.openapi import created_or_replayed, problems
from tollgate.shared.security import AdminUser, CurrentUser

# Stripe refusing (400) or unreachable (503), no billing account yet or a refund already made (409).
router = APIRouter(tags=["billing"], responses=problems(400, 404, 409))

Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=100_000)]


@router.post("/api/billing/portal")
async def portal(
    session: SessionDep, billing: BillingDep, user: CurrentUser, body: PortalRequest | None = None
) -> dict[str, str]:
    """A Stripe Customer Portal link where the caller manages cards and downloads invoices."""
    body = body or PortalRequest()
    await account_of(session, user, body.org_id, Access.MANAGE)
    customer = await stripe_customer(session, billing.stripe, user.user_id)
    assert customer.stripe_customer_id is not None
    portal_session = await billing.stripe.create_portal_session(
        customer.stripe_customer_id, str(body.return_url or billing.settings.portal_return_url)
    )
    return {"url": str(portal_session["url"])}


@router.get("/api/billing/invoices", response_model=Page[InvoiceOut])
async def invoices(
    session: SessionDep,
    user: CurrentUser,
    limit: Limit = 20,
    offset: Offset = 0,
    org_id: uuid.UUID | None = None,
) -> Page[InvoiceOut]:
    """The account's invoices, newest first."""
    account = await account_of(session, user, org_id, Access.READ)
    return await service.invoices(session, account.id, limit, offset)


@router.get("/api/billing/payments", response_model=Page[PaymentOut])
async def payments(
    session: SessionDep,
    user: CurrentUser,
    limit: Limit = 20,
    offset: Offset = 0,
    org_id: uuid.UUID | None = None,
) -> Page[PaymentOut]:
    """The account's payments, newest first, with what was refunded of each."""
    account = await account_of(session, user, org_id, Access.READ)
    return await service.payments(session, account.id, limit, offset)


@router.get("/api/admin/payments", response_model=Page[PaymentOut])
async def account_payments(
    session: SessionDep,
    _: AdminUser,
    account_id: uuid.UUID,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Page[PaymentOut]:
    """An account's payments, newest first (admins): where a refund is chosen from."""
    return await service.payments(session, account_id, limit, offset)


@router.post(
    "/api/admin/payments/{payment_id}/refund",
    response_model=RefundOut,
    responses=created_or_replayed(RefundOut),
)
async def refund(
    payment_id: str,
    session: SessionDep,
    billing: BillingDep,
    admin: AdminUser,
    response: Response,
    body: RefundRequest | None = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> RefundOut:
    """Refund a payment in full or in part (admins); the same Idempotency-Key refunds once."""
    out, created = await service.refund(
        session, billing.stripe, payment_id, body or RefundRequest(), admin.user_id, idempotency_key
    )
    response.status_code = 201 if created else 200
    return out


@router.get("/api/admin/revenue", response_model=RevenueOut)
async def revenue(
    session: SessionDep, _: AdminUser, months: Annotated[int, Query(ge=1, le=36)] = 12
) -> RevenueOut:
    """MRR, money kept per month, and subscriptions per plan (admins)."""
    return await service.revenue(session, months)
