from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LeaseAsk(BaseModel):
    """Room for more calls of the same caller and model, beyond this call's own hold."""

    model_config = ConfigDict(extra="forbid")

    credits: int = Field(ge=0, le=10**12, strict=True)
    tokens: int = Field(ge=0, le=10**9, strict=True)  # raw tokens: prompt + max completion
    calls: int = Field(ge=0, le=10_000, strict=True)
    seconds: int = Field(ge=1, le=60, strict=True)  # how long calls may start from it


class ReservationRequest(BaseModel):
    """A hold asked for by llm-proxy: token counts are whole numbers, never "12" or 12.0."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=200)
    model: str = Field(min_length=1, max_length=200)
    prompt_tokens: int = Field(ge=0, le=10_000_000, strict=True)
    max_completion_tokens: int | None = Field(default=None, ge=0, le=10_000_000, strict=True)
    ttl_seconds: int | None = Field(default=None, ge=1, le=86_400, strict=True)
    lease: LeaseAsk | None = None  # absent: a hold for this one call


class LeaseOut(BaseModel):
    """What a lease was granted, this call included."""

    credits: int  # the whole lease (= held_tokens)
    tokens: int  # raw tokens it counts for tokens per minute
    calls: int  # calls it counts for the daily quota
    use_until: datetime  # no call starts from it after this
    default_completion_tokens: int  # the plan's default cap, before the minute's
    tokens_per_minute: int | None


class ReservationOut(BaseModel):
    reservation_id: uuid.UUID
    account_id: uuid.UUID
    held_tokens: int = Field(description="Credits held (the name is older than prices)")
    max_completion_tokens: int
    available: int
    expires_at: datetime
    # The price the call will be charged at, per million input and output tokens.
    input_per_million: int
    output_per_million: int
    unit: Literal["credits"] = "credits"
    lease: LeaseOut | None = None


class ReleaseOut(BaseModel):
    reservation_id: uuid.UUID
    status: str
    available: int


class ShrinkIn(BaseModel):
    """What llm-proxy has spent or may still spend through a lease."""

    model_config = ConfigDict(extra="forbid")

    # Σ charge of its finished calls + Σ held credits of calls in flight.
    credits: int = Field(ge=0, le=10**15, strict=True)
    # Σ prompt + completion of finished calls + Σ raw tokens of calls in flight.
    tokens: int = Field(ge=0, le=10**12, strict=True)
    calls: int = Field(ge=0, le=10**6, strict=True)  # calls started from it
    final: bool = Field(strict=True)  # nothing in flight, and no call will start from it


class ShrinkOut(BaseModel):
    reservation_id: uuid.UUID
    status: str
    available: int
