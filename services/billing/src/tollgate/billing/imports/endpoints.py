"""``/api/admin/imports``: subscriptions and billing history moved in (superadmins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from tollgate.billing.imports import service
from tollgate.billing.imports.schemas import (
    Imported,
    InvoiceImport,
    PaymentImport,
    SubscriptionImport,
)
from tollgate.billing.subscriptions.schemas import SubscriptionOut
from tollgate.shared.db import SessionDep
from tollgate.shared.openapi import created_or_replayed, problems
from tollgate.shared.security import Principal, require_role

# A subscription or a payment that clashes with one already there (409).
router = APIRouter(prefix="/api/admin/imports", tags=["imports"], responses=problems(409))

Superadmin = Annotated[Principal, Depends(require_role("superadmin"))]


def answer(response: Response, created: bool) -> None:
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK


@router.post(
    "/subscriptions",
    response_model=SubscriptionOut,
    status_code=201,
    responses=created_or_replayed(SubscriptionOut),
)
async def import_subscription(
    body: SubscriptionImport, _: Superadmin, session: SessionDep, response: Response
) -> SubscriptionOut:
    """Give an imported account its subscription (201), unless it has one already (200)."""
    out, created = await service.import_subscription(session, body)
    answer(response, created)
    return out


@router.post(
    "/invoices", response_model=Imported, status_code=201, responses=created_or_replayed(Imported)
)
async def import_invoice(
    body: InvoiceImport, _: Superadmin, session: SessionDep, response: Response
) -> Imported:
    """Record a past invoice as read-only history (201; 200 if it is in already)."""
    invoice_id, created = await service.import_invoice(session, body)
    answer(response, created)
    return Imported(id=invoice_id, created=created)


@router.post(
    "/payments", response_model=Imported, status_code=201, responses=created_or_replayed(Imported)
)
async def import_payment(
    body: PaymentImport, _: Superadmin, session: SessionDep, response: Response
) -> Imported:
    """Record a past payment as read-only history (201; 200 if it is in already)."""
    payment_id, created = await service.import_payment(session, body)
    answer(response, created)
    return Imported(id=payment_id, created=created)
