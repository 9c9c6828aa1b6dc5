"""Tables of the billing service.

Stripe is the system of record for paid subscriptions, invoices and charges; the
rows here mirror what Stripe last told us, plus what only we know (the plan
catalog, free subscriptions, the sequence of ``subscription.changed``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tollgate.shared.db import new_metadata
from tollgate.shared.messaging import messaging_tables


class Base(DeclarativeBase):
    metadata = new_metadata()


messaging = messaging_tables(Base.metadata)


class Plan(Base):
    """One entry of the catalog; seeded from shared.plans, then owned by billing's admins."""

    __tablename__ = "plans"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[str] = mapped_column(String(10))
    monthly_tokens: Mapped[int] = mapped_column(BigInteger)
    limits: Mapped[dict[str, Any]] = mapped_column(JSONB)
    features: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    stripe_price_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # The price of a year paid at once, and its own Stripe price; NULL: monthly only.
    yearly_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    stripe_yearly_price_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # Days of free trial a first Checkout may ask for; 0: no trial.
    trial_days: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Customer(Base):
    """A Tollgate user as billing knows them, with their Stripe customer."""

    __tablename__ = "customers"

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    org_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    parent_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # The idempotency key of the customer's creation, kept so a later attempt (after
    # Stripe was unreachable at registration) gets the customer a lost answer made.
    stripe_customer_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Subscription(Base):
    """The one current subscription of an account (a user, or an organization)."""

    __tablename__ = "subscriptions"

    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # The user who pays: the customer whose Stripe customer is billed.
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    org_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    plan: Mapped[str] = mapped_column(ForeignKey("plans.code"))
    status: Mapped[str] = mapped_column(String(30))
    seats: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    current_period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    current_period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # month | year: which of the plan's Stripe prices the subscription pays.
    billing_interval: Mapped[str] = mapped_column(String(10), server_default=text("'month'"))
    trial_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the account's one trial began; set once, never cleared, so it cannot have two.
    trial_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A downgrade waits for the end of the paid period: the plan it will become, and when.
    scheduled_plan: Mapped[str | None] = mapped_column(ForeignKey("plans.code"))
    scheduled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Counts every subscription.changed published for this account, so consumers drop stale ones.
    sequence: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class StripeEvent(Base):
    """A Stripe event applied once: its id is written in the same transaction as its effects."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    created: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(20))  # webhook | reconcile
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # Stripe invoice id
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255))
    number: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(30))
    currency: Mapped[str] = mapped_column(String(3))
    # Before discounts; NULL on invoices mirrored before discounts were recorded.
    subtotal: Mapped[int | None] = mapped_column(BigInteger)
    # What promotion codes took off, and the code the person entered.
    discount: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    promotion_code: Mapped[str | None] = mapped_column(String(255))
    amount_due: Mapped[int] = mapped_column(BigInteger)
    amount_paid: Mapped[int] = mapped_column(BigInteger)
    hosted_invoice_url: Mapped[str | None] = mapped_column(Text)
    period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Payment(Base):
    """A Stripe charge: money that moved, and how much of it went back."""

    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # Stripe charge id
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    invoice_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(30))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    amount_refunded: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Refund(Base):
    """An admin's refund, keyed by its idempotency key so a retried request refunds once."""

    __tablename__ = "refunds"

    idempotency_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    id: Mapped[str] = mapped_column(String(255), unique=True)  # Stripe refund id
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(String(100))
    requested_by: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OrgMember(Base):
    """Who is in an organization, and as what, as auth's events last said.

    Organization billing is authorized from these rows, not from the token's ``org``
    claim, which can be 15 minutes old. ``fact_at`` is the time of the auth change
    applied last, so a late event never undoes a newer one.
    """

    __tablename__ = "org_members"
    __table_args__ = (PrimaryKeyConstraint("org_id", "user_id"),)

    org_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    role: Mapped[str | None] = mapped_column(String(20))  # owner | admin | member
    active: Mapped[bool] = mapped_column(Boolean)
    fact_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OpenCheckout(Base):
    """The Checkout page an account was sent to for an offer (a plan, monthly or yearly, with
    or without a trial); reused while Stripe keeps it open."""

    __tablename__ = "open_checkouts"
    __table_args__ = (PrimaryKeyConstraint("account_id", "plan", "billing_interval", "trial"),)

    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    plan: Mapped[str] = mapped_column(String(40))
    billing_interval: Mapped[str] = mapped_column(String(10), server_default=text("'month'"))
    trial: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    session_id: Mapped[str] = mapped_column(String(255), unique=True)
    url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DuplicateSubscription(Base):
    """A second paid subscription of an account that already paid: cancelled and refunded."""

    __tablename__ = "duplicate_subscriptions"

    stripe_subscription_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    # The subscription the account keeps.
    kept_subscription_id: Mapped[str] = mapped_column(String(255))
    refund_id: Mapped[str | None] = mapped_column(String(255))
    refunded_amount: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    currency: Mapped[str | None] = mapped_column(String(3))
    detected_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class CreditPack(Base):
    """A pack of credits bought once (a top-up); seeded, then owned by billing's admins."""

    __tablename__ = "credit_packs"
    __table_args__ = (
        CheckConstraint("credits > 0", name="credits_positive"),
        CheckConstraint("price_cents > 0", name="price_positive"),
    )

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    credits: Mapped[int] = mapped_column(BigInteger)
    price_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # Days the bought credits stay spendable; None: until spent.
    valid_days: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Purchase(Base):
    """One pack bought for an account: through Checkout, or off-session by auto top-up.

    The pack's terms are copied in when the purchase starts, so an admin's later edit
    of the pack never changes what a buyer was shown. At most one Checkout page per
    account and pack is open at a time; one off-session purchase per balance crossing.
    """

    __tablename__ = "purchases"
    __table_args__ = (
        Index(
            "uq_purchases_open_checkout",
            "account_id",
            "pack_code",
            unique=True,
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    # The payer: the person whose Stripe customer is charged.
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    org_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    pack_code: Mapped[str] = mapped_column(ForeignKey("credit_packs.code"))
    credits: Mapped[int] = mapped_column(BigInteger)
    price_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    valid_days: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))  # checkout | auto
    status: Mapped[str] = mapped_column(String(20))  # open | pending | paid | expired | failed
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    charge_id: Mapped[str | None] = mapped_column(String(255), index=True)
    # The balance crossing an auto top-up answers: one purchase per crossing.
    crossing_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), unique=True)
    credits_refunded: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    failure: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    credits_expire_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AutoTopUp(Base):
    """An account's auto top-up: buy ``pack_code`` when the balance falls below ``threshold``."""

    __tablename__ = "auto_top_ups"

    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    # Whose saved card pays: the person who set it up.
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    org_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    enabled: Mapped[bool] = mapped_column(Boolean)
    threshold: Mapped[int] = mapped_column(BigInteger)
    pack_code: Mapped[str] = mapped_column(ForeignKey("credit_packs.code"))
    # Why it was turned off by us (a declined card), shown to the person.
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    # Counts every auto_top_up.changed published, so usage drops stale ones.
    sequence: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
