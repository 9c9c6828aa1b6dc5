"""Tables of the LLM proxy service: the request log, announced plans, the copy of the model
prices, the outbox and the inbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, Numeric, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tollgate.shared.db import new_metadata
from tollgate.shared.messaging import messaging_tables
from tollgate.shared.model_prices import price_list_table

__all__ = ["AnnouncedPlan", "Base", "RequestLog", "messaging", "price_list"]


class Base(DeclarativeBase):
    metadata = new_metadata()


messaging = messaging_tables(Base.metadata)
# What each model costs in credits, as usage last announced it (shown by /v1/models).
price_list = price_list_table(Base.metadata)


class RequestLog(Base):
    __tablename__ = "request_log"

    # Our id for the call; also the reservation's and the usage event's request_id.
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    http_request_id: Mapped[str | None] = mapped_column(String(128))
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    org_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    session_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    reservation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    endpoint: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str | None] = mapped_column(String(100))
    upstream_model: Mapped[str | None] = mapped_column(String(200))
    stream: Mapped[bool] = mapped_column(Boolean)
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    total_tokens: Mapped[int] = mapped_column(Integer)
    # Usage said so when upstream reported it; otherwise our own count.
    usage_reported: Mapped[bool] = mapped_column(Boolean)
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(20, 10))
    status: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    ttft_ms: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # Kept only when LLM_PROXY_STORE_CONTENT is on.
    prompt: Mapped[str | None] = mapped_column(Text)
    completion: Mapped[str | None] = mapped_column(Text)


class AnnouncedPlan(Base):
    """A plan as billing last announced it; the newest version wins."""

    __tablename__ = "announced_plans"

    code: Mapped[str] = mapped_column(String(50), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean)
    allowed_models: Mapped[list[str]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
