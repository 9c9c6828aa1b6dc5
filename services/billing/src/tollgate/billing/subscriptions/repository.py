"""SQL for subscriptions and customers' billing rows."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.models import Customer, DuplicateSubscription, OpenCheckout, Subscription


async def get(session: AsyncSession, account_id: uuid.UUID) -> Subscription | None:
    return await session.get(Subscription, account_id)


async def lock(session: AsyncSession, account_id: uuid.UUID) -> Subscription | None:
    """The account's row, locked until the transaction ends: changes to one account queue up."""
    result: Subscription | None = await session.scalar(
        select(Subscription)
        .where(Subscription.account_id == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result


async def lock_or_create(
    session: AsyncSession,
    *,
    account_id: uuid.UUID,
    user_id: uuid.UUID,
    org_id: uuid.UUID | None,
    period_start: datetime,
    period_end: datetime,
) -> tuple[Subscription, bool]:
    """Lock the account's row, creating it on the free plan first if it does not exist yet."""
    created = await session.scalar(
        insert(Subscription)
        .values(
            account_id=account_id,
            user_id=user_id,
            org_id=org_id,
            plan="free",
            status="active",
            current_period_start=period_start,
            current_period_end=period_end,
        )
        .on_conflict_do_nothing()
        .returning(Subscription.account_id)
    )
    row = await lock(session, account_id)
    assert row is not None
    return row, created is not None


async def by_stripe_id(session: AsyncSession, stripe_subscription_id: str) -> Subscription | None:
    result: Subscription | None = await session.scalar(
        select(Subscription).where(Subscription.stripe_subscription_id == stripe_subscription_id)
    )
    return result


async def local_periods_due(session: AsyncSession, now: datetime, limit: int) -> list[Subscription]:
    """Free and complimentary subscriptions whose period has ended, locked, skipping busy ones."""
    result = await session.scalars(
        select(Subscription)
        .where(
            Subscription.stripe_subscription_id.is_(None),
            Subscription.status == "active",
            Subscription.current_period_end <= now,
        )
        .order_by(Subscription.current_period_end)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(result)


async def all_with_stripe(session: AsyncSession) -> list[Subscription]:
    result = await session.scalars(
        select(Subscription).where(Subscription.stripe_subscription_id.is_not(None))
    )
    return list(result)


async def get_customer(session: AsyncSession, user_id: uuid.UUID) -> Customer | None:
    return await session.get(Customer, user_id)


async def customer_by_stripe_id(session: AsyncSession, stripe_customer_id: str) -> Customer | None:
    result: Customer | None = await session.scalar(
        select(Customer).where(Customer.stripe_customer_id == stripe_customer_id)
    )
    return result


async def upsert_customer(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    email: str | None,
    name: str | None,
    org_id: uuid.UUID | None,
    parent_user_id: uuid.UUID | None,
) -> Customer:
    await session.execute(
        insert(Customer)
        .values(
            user_id=user_id,
            email=email,
            name=name,
            org_id=org_id,
            parent_user_id=parent_user_id,
        )
        .on_conflict_do_nothing()
    )
    customer = await session.scalar(
        select(Customer)
        .where(Customer.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert customer is not None
    return customer


class Offer(NamedTuple):
    """What a Checkout page sells: a plan, by the month or the year, with a trial or not."""

    plan: str
    billing_interval: str
    trial: bool


async def open_checkout(
    session: AsyncSession, account_id: uuid.UUID, offer: Offer
) -> OpenCheckout | None:
    return await session.get(OpenCheckout, (account_id, *offer))


async def remember_checkout(
    session: AsyncSession, account_id: uuid.UUID, offer: Offer, session_id: str, url: str
) -> None:
    stmt = insert(OpenCheckout).values(
        account_id=account_id, **offer._asdict(), session_id=session_id, url=url
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["account_id", "plan", "billing_interval", "trial"],
            set_={"session_id": session_id, "url": url, "created_at": stmt.excluded.created_at},
        )
    )


async def duplicate(
    session: AsyncSession, stripe_subscription_id: str
) -> DuplicateSubscription | None:
    return await session.get(DuplicateSubscription, stripe_subscription_id, with_for_update=True)


async def record_duplicate(
    session: AsyncSession, stripe_subscription_id: str, account_id: uuid.UUID, kept: str
) -> DuplicateSubscription:
    await session.execute(
        insert(DuplicateSubscription)
        .values(
            stripe_subscription_id=stripe_subscription_id,
            account_id=account_id,
            kept_subscription_id=kept,
        )
        .on_conflict_do_nothing()
    )
    row = await duplicate(session, stripe_subscription_id)
    assert row is not None
    return row


async def duplicates_of(
    session: AsyncSession, account_id: uuid.UUID
) -> list[DuplicateSubscription]:
    rows = await session.scalars(
        select(DuplicateSubscription)
        .where(DuplicateSubscription.account_id == account_id)
        .order_by(DuplicateSubscription.detected_at)
    )
    return list(rows)
