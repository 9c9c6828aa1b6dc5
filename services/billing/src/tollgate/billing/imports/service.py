"""Subscriptions, invoices and payments moved in from another backend.

A subscription is written once: if the account already has one, the import
leaves it alone, so a re-run never undoes what the customer changed since.
(Imported users start with no subscription: the user.registered of an import
does not start the free plan.) Stripe ids are kept, so Stripe's webhooks for the
same subscription find the account and billing keeps charging it. Invoices and
payments are read-only history under ids derived from their source.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.imports import repository
from tollgate.billing.imports.schemas import InvoiceImport, PaymentImport, SubscriptionImport
from tollgate.billing.plans import repository as plans
from tollgate.billing.subscriptions import repository as subscriptions
from tollgate.billing.subscriptions import sync
from tollgate.billing.subscriptions.domain import AccountPlan
from tollgate.billing.subscriptions.schemas import SubscriptionOut
from tollgate.billing.subscriptions.service import describe
from tollgate.shared.errors import Conflict, UnprocessableEntity


async def import_subscription(
    session: AsyncSession, body: SubscriptionImport
) -> tuple[SubscriptionOut, bool]:
    plan = await plans.get(session, body.plan)
    if plan is None or not plan.active:
        raise UnprocessableEntity(
            f"There is no plan called {body.plan!r}", type_slug="unknown-plan"
        )
    existing = await subscriptions.lock(session, body.account_id)
    if existing is not None:
        return await describe(session, existing), False
    await _keep_stripe_customer(session, body)
    if body.stripe_subscription_id is not None and await subscriptions.by_stripe_id(
        session, body.stripe_subscription_id
    ):
        raise Conflict(
            "This Stripe subscription already belongs to another account",
            type_slug="stripe-subscription-taken",
        )
    row = await sync.lock_account(session, body.account_id, body.user_id, body.org_id)
    changed = await sync.store(
        session,
        row,
        AccountPlan(
            plan=plan.code,
            status=body.status,
            stripe_subscription_id=body.stripe_subscription_id,
            period_start=body.current_period_start,
            period_end=body.current_period_end,
            cancel_at_period_end=body.cancel_at_period_end,
            seats=body.seats,
            scheduled_plan=None,
            scheduled_at=None,
        ),
    )
    if not changed:  # the import matched the row's defaults: still announce it once
        await sync.publish(session, row)
    return await describe(session, row), True


async def _keep_stripe_customer(session: AsyncSession, body: SubscriptionImport) -> None:
    customer = await subscriptions.upsert_customer(
        session,
        user_id=body.user_id,
        email=str(body.email).lower() if body.email else None,
        name=body.name,
        org_id=body.org_id,
        parent_user_id=None,
    )
    if body.stripe_customer_id is None or customer.stripe_customer_id == body.stripe_customer_id:
        return
    owner = await subscriptions.customer_by_stripe_id(session, body.stripe_customer_id)
    if customer.stripe_customer_id is not None or owner is not None:
        raise Conflict(
            "This Stripe customer already belongs to another account",
            type_slug="stripe-customer-taken",
        )
    customer.stripe_customer_id = body.stripe_customer_id
    await session.flush()


async def import_invoice(session: AsyncSession, body: InvoiceImport) -> tuple[str, bool]:
    invoice_id = body.key()
    created = await repository.insert_invoice(
        session,
        {
            "id": invoice_id,
            "account_id": body.account_id,
            "number": body.number,
            "status": body.status,
            "currency": body.currency,
            "amount_due": body.amount_due,
            "amount_paid": body.amount_paid,
            "hosted_invoice_url": body.hosted_invoice_url,
            "period_start": body.period_start,
            "period_end": body.period_end,
            "created": body.created,
            "paid_at": body.paid_at,
        },
    )
    return invoice_id, created


async def import_payment(session: AsyncSession, body: PaymentImport) -> tuple[str, bool]:
    payment_id = body.key()
    created = await repository.insert_payment(
        session,
        {
            "id": payment_id,
            "account_id": body.account_id,
            "invoice_id": body.invoice_id,
            "status": body.status,
            "currency": body.currency,
            "amount": body.amount,
            "amount_refunded": body.amount_refunded,
            "created": body.created,
        },
    )
    return payment_id, created
