"""Tables of the usage service.

The ledger is append-only: ``ledger_entries`` records every credit and debit,
``holds`` every reservation and how it ended. ``grants.used`` is a projection of
the spend entries of a grant, written in the same transaction as those entries
so the balance can be read without summing the whole history.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Index,
    Integer,
    Numeric,
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

# Aggregates of an erased user stay, under this id, so totals keep adding up.
ANONYMOUS_USER = uuid.UUID(int=0)


class Account(Base):
    """Who pays: a user (id = user id) or an organization (id = org id)."""

    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # "user" | "org"
    plan: Mapped[str] = mapped_column(String(50), server_default="free")
    status: Mapped[str] = mapped_column(String(30), server_default="active")
    monthly_tokens: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    limits: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The end of the term billing last announced for a paid plan (a month, a trial, a
    # year): the allocation renews month by month up to it. NULL on the free plan,
    # which renews on its own for ever.
    term_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Highest subscription.changed sequence applied; older ones are stale.
    subscription_sequence: Mapped[int | None] = mapped_column(BigInteger)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Grant(Base):
    """Credits an account may spend until ``expires_at``."""

    __tablename__ = "grants"
    __table_args__ = (
        # Zero once a refund took back a pack nobody had spent from; kept for the record.
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("used >= 0 AND used <= amount", name="used_within_amount"),
        # One plan allocation per (account, period start), however often it is announced.
        Index(
            "uq_grants_plan_period",
            "account_id",
            "period_start",
            unique=True,
            postgresql_where=text("source = 'plan'"),
        ),
        Index("ix_grants_account_expiry", "account_id", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    # plan | promotional | admin | purchase | promotion
    source: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    used: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    priority: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Hold(Base):
    """A reservation: credits set aside for one LLM call until it settles or expires
    (``amount`` and ``committed_tokens`` are credits, the names are older than prices).

    A lease (``lease_until`` set) is a hold that serves many calls: ``amount`` is what
    it still holds, ``committed_tokens`` what its calls were charged so far, ``calls``
    what it counts against the daily quota; the ``lease_*`` budgets are what it was
    granted, so a retried request gets the same lease back.
    """

    __tablename__ = "holds"
    __table_args__ = (
        # Zero once a lease's calls have drawn all it held, or it was shrunk to nothing.
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("calls >= 0", name="calls_not_negative"),
        CheckConstraint(
            "(lease_until IS NULL) = (lease_credits IS NULL)"
            " AND (lease_until IS NULL) = (lease_tokens IS NULL)"
            " AND (lease_until IS NULL) = (lease_calls IS NULL)"
            " AND (lease_until IS NULL) = (lease_default_completion_tokens IS NULL)",
            name="lease_granted_whole",
        ),
        Index(
            "ix_holds_active",
            "account_id",
            postgresql_where=text("status = 'held'"),
        ),
        Index("ix_holds_account_user_created", "account_id", "user_id", "created_at"),
        Index("ix_holds_expiry", "expires_at", postgresql_where=text("status = 'held'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(200), unique=True)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    model: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(BigInteger)
    max_completion_tokens: Mapped[int] = mapped_column(BigInteger)
    # The model's price when the hold was made: its call is charged at it, whatever
    # the price is by the time the call settles.
    input_per_million: Mapped[int] = mapped_column(BigInteger)
    output_per_million: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12))  # held | committed | released | expired
    committed_tokens: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Requests it counts for the daily quota: 1 for a call's hold, a lease's whole budget.
    calls: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    # Until when llm-proxy may start calls from it; NULL: a plain per-call hold.
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_credits: Mapped[int | None] = mapped_column(BigInteger)
    lease_tokens: Mapped[int | None] = mapped_column(BigInteger)
    lease_calls: Mapped[int | None] = mapped_column(Integer)
    lease_default_completion_tokens: Mapped[int | None] = mapped_column(BigInteger)
    lease_tokens_per_minute: Mapped[int | None] = mapped_column(BigInteger)
    # Shrunk final: no call will start from it; committed once it holds nothing.
    lease_final: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class ModelPrice(Base):
    """A model's price from ``effective_from`` until the model's next row: the history
    stays, so every past charge can be explained by the price it was made at."""

    __tablename__ = "model_prices"
    __table_args__ = (
        CheckConstraint("input_per_million > 0 AND output_per_million > 0", name="prices_positive"),
        Index("uq_model_prices_model_from", "model", "effective_from", unique=True),
    )

    # Rises with every change: the version of the price list a change makes.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200))
    input_per_million: Mapped[int] = mapped_column(BigInteger)
    output_per_million: Mapped[int] = mapped_column(BigInteger)
    effective_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    set_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LedgerEntry(Base):
    """One credit (grant) or debit (spend) on an account; never updated."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_account", "account_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    grant_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    hold_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    request_id: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # grant | grant_increase | spend
    amount: Mapped[int] = mapped_column(BigInteger)  # credits positive, debits negative
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Member(Base):
    """A user spending from another account: an organization member or a sub-user."""

    __tablename__ = "members"

    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # org | sub_user
    role: Mapped[str | None] = mapped_column(String(30))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    cap_tokens: Mapped[int | None] = mapped_column(BigInteger)  # per period; None: no cap
    # A sub-user's permissions as its parent set them; None: not restricted (org members).
    permissions: Mapped[list[str] | None] = mapped_column(JSONB)
    # When auth made the change applied last (its event's occurred_at): older events lose.
    fact_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class UsageRecord(Base):
    """One metered LLM call, as llm-proxy reported it."""

    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_records_user_started", "user_id", "started_at"),
        Index("ix_usage_records_account_started", "account_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(200), unique=True)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    hold_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    session_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    model: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(100))
    endpoint: Mapped[str] = mapped_column(String(100))
    feature: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(30))
    prompt_tokens: Mapped[int] = mapped_column(BigInteger)
    completion_tokens: Mapped[int] = mapped_column(BigInteger)
    total_tokens: Mapped[int] = mapped_column(BigInteger)
    # What the call cost at its price, and the part of it no grant could pay.
    charged_credits: Mapped[int] = mapped_column(BigInteger)
    uncharged_credits: Mapped[int] = mapped_column(BigInteger)
    # The price it was charged at (the hold's, else the one in force when it started);
    # none for usage imported from another backend, which was paid for there.
    input_per_million: Mapped[int | None] = mapped_column(BigInteger)
    output_per_million: Mapped[int | None] = mapped_column(BigInteger)
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(18, 8))
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    ttft_ms: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class DailyUsage(Base):
    """Rollup of usage_records per day, kept in the same transaction as each record."""

    __tablename__ = "daily_usage"
    # A user's stats read a range of days; the key starts with the day for the admin view;
    # an account's period sums read its days.
    __table_args__ = (
        Index("ix_daily_usage_user_day", "user_id", "day"),
        Index("ix_daily_usage_account_day", "account_id", "day"),
    )

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    provider: Mapped[str] = mapped_column(String(100), primary_key=True)
    feature: Mapped[str] = mapped_column(String(100), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger)
    completion_tokens: Mapped[int] = mapped_column(BigInteger)
    total_tokens: Mapped[int] = mapped_column(BigInteger)
    charged_credits: Mapped[int] = mapped_column(BigInteger)
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(20, 8))


class FeatureEvent(Base):
    """What the extension reports it did (completions shown, accepted, ...); not billing."""

    __tablename__ = "feature_events"
    __table_args__ = (Index("ix_feature_events_user_occurred", "user_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    feature: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class AlertSent(Base):
    """balance.low / quota.exhausted go out once per threshold per period."""

    __tablename__ = "alerts_sent"

    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    threshold: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PlanCatalogEntry(Base):
    """A plan as billing last announced it (``plan.updated``): the newest version wins."""

    __tablename__ = "plan_catalog"

    code: Mapped[str] = mapped_column(String(50), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean)
    monthly_tokens: Mapped[int] = mapped_column(BigInteger)
    limits: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MinuteTokens(Base):
    """Raw tokens a reservation counts against its member's tokens-per-minute limit.

    Written with the hold (prompt + most completion allowed), corrected to what the
    call used when it settles, zeroed when it is released; rows older than the
    window are swept.
    """

    __tablename__ = "minute_tokens"
    __table_args__ = (Index("ix_minute_tokens_member_at", "account_id", "user_id", "counted_at"),)

    hold_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    tokens: Mapped[int] = mapped_column(BigInteger)
    counted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class PurchaseGrant(Base):
    """The grant a paid credit pack became: one per purchase, however often it is announced."""

    __tablename__ = "purchase_grants"

    purchase_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    grant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    credits: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Clawback(Base):
    """Credits a refund took back from a pack's grant: at most what was still unused."""

    __tablename__ = "clawbacks"

    refund_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    purchase_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    # What billing asked back, and what the grant still had to give.
    asked: Mapped[int] = mapped_column(BigInteger)
    taken: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TopUpWatch(Base):
    """An account's auto top-up threshold, as billing last said, and whether it is armed.

    Armed means the balance was at or above the threshold at the last settlement, so
    falling below it is a new crossing; a crossing disarms it until the balance is back.
    """

    __tablename__ = "top_up_watches"

    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    threshold: Mapped[int] = mapped_column(BigInteger)
    armed: Mapped[bool] = mapped_column(Boolean)
    # Highest auto_top_up.changed sequence applied; older ones are stale.
    sequence: Mapped[int] = mapped_column(BigInteger)


class PromotionCode(Base):
    """A code an admin hands out; each redemption becomes a ``promotion`` grant."""

    __tablename__ = "promotion_codes"
    __table_args__ = (
        CheckConstraint("credits > 0", name="credits_positive"),
        CheckConstraint("max_redemptions > 0", name="max_redemptions_positive"),
        # The last word against overselling: a redemption past the total cannot commit.
        CheckConstraint(
            "redemptions >= 0 AND redemptions <= max_redemptions", name="redemptions_within_max"
        ),
        CheckConstraint(
            "grant_valid_days IS NULL OR grant_valid_days > 0", name="grant_valid_days_positive"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)  # upper case, as normalised
    credits: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    max_redemptions: Mapped[int] = mapped_column(Integer)
    redemptions: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Days a redeemed grant lasts; None: the credits never expire.
    grant_valid_days: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PromotionRedemption(Base):
    """One account's redemption of a code: at most one per (code, account)."""

    __tablename__ = "promotion_redemptions"

    code_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    grant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    redeemed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
