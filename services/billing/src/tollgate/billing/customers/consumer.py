"""Applying auth's user events: registration, profile changes, deletion.

One queue carries all three so a user's events are applied in the order auth
published them (a deletion is never overtaken by the registration).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.context import Billing
from tollgate.billing.subscriptions import repository as subscriptions
from tollgate.billing.subscriptions import sync
from tollgate.billing.subscriptions.domain import on_free
from tollgate.shared.errors import BadRequest, ServiceUnavailable
from tollgate.shared.messaging import Envelope, Subscription
from tollgate.shared.messaging.consumer import Handler
from tollgate.shared.messaging.events import UserDeleted, UserRegistered, UserUpdated

log = logging.getLogger("tollgate.billing.customers")

QUEUE = "billing.user-events"
ROUTING_KEYS = ("user.registered", "user.updated", "user.deleted")


def customer_idempotency_key(envelope: Envelope) -> str:
    """Derived from the event: a redelivery after a crash gets Stripe's first answer back."""
    return f"tollgate-user-registered-{envelope.id}"


async def user_registered(
    billing: Billing, session: AsyncSession, envelope: Envelope, data: UserRegistered
) -> None:
    customer = await subscriptions.upsert_customer(
        session,
        user_id=data.user_id,
        email=data.email,
        name=data.name,
        org_id=data.org_id,
        parent_user_id=data.parent_user_id,
    )
    if data.parent_user_id is not None:
        # A sub-user spends from its parent's pool and never pays on its own.
        return
    if envelope.data.get("imported") is True:
        # Moved in from another backend: the import brings the subscription and keeps the
        # old Stripe customer; one is made here only when first needed (stripe_customer).
        return
    if customer.stripe_customer_id is None:
        customer.stripe_customer_key = customer.stripe_customer_key or customer_idempotency_key(
            envelope
        )
        try:
            created = await billing.stripe.create_customer(
                email=data.email,
                name=data.name,
                user_id=str(data.user_id),
                idempotency_key=customer.stripe_customer_key,
            )
            customer.stripe_customer_id = str(created["id"])
        except ServiceUnavailable:
            # The free plan does not wait for Stripe: the customer is made when first needed,
            # with the same idempotency key, so a request that did reach Stripe is not repeated.
            log.warning("Stripe unreachable; customer for %s will be created later", data.user_id)
        await session.flush()
    await sync.start_free(session, user_id=data.user_id)


async def user_updated(billing: Billing, session: AsyncSession, data: UserUpdated) -> None:
    customer = await subscriptions.get_customer(session, data.user_id)
    if customer is None or customer.deleted_at is not None:
        return
    if (customer.email, customer.name) == (data.email, data.name):
        return
    customer.email, customer.name = data.email, data.name
    if customer.stripe_customer_id:
        params = {"email": data.email, **({"name": data.name} if data.name else {})}
        await billing.stripe.update_customer(customer.stripe_customer_id, params)
    await session.flush()


async def user_deleted(billing: Billing, session: AsyncSession, data: UserDeleted) -> None:
    """Stop billing the user and forget who they were; invoices stay for the accounts."""
    customer = await subscriptions.get_customer(session, data.user_id)
    row = await subscriptions.lock(session, data.user_id)
    if row is not None:
        if row.stripe_subscription_id is not None and row.status != "canceled":
            await _gone_is_fine(billing.stripe.cancel_subscription(row.stripe_subscription_id))
        ended = on_free(sync.state_of(row), sync.now_utc(), None)
        await sync.store(session, row, dataclasses.replace(ended, status="canceled"))
    if customer is None:
        return
    if customer.stripe_customer_id:
        # Deleting the Stripe customer removes the personal data Stripe holds for us.
        await _gone_is_fine(billing.stripe.delete_customer(customer.stripe_customer_id))
    customer.stripe_customer_id = None
    customer.email = None
    customer.name = None
    customer.deleted_at = sync.now_utc()
    await session.flush()


async def _gone_is_fine(call: Awaitable[Any]) -> None:
    # A redelivered deletion finds the Stripe object already gone: that is the goal reached.
    try:
        await call
    except BadRequest as exc:
        log.info("Stripe object already gone: %s", exc.detail)


def handler(billing: Billing) -> Handler:
    async def handle(session: AsyncSession, envelope: Envelope) -> None:
        data = envelope.parsed()
        if isinstance(data, UserRegistered):
            await user_registered(billing, session, envelope, data)
        elif isinstance(data, UserUpdated):
            await user_updated(billing, session, data)
        elif isinstance(data, UserDeleted):
            await user_deleted(billing, session, data)
        else:
            log.info("event %s of type %s ignored", envelope.id, envelope.type)

    return handle


def subscription(billing: Billing) -> Subscription:
    return Subscription(QUEUE, ROUTING_KEYS, handler(billing))
