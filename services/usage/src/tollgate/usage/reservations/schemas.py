from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ReservationRequest(BaseModel):
    """A hold asked for by llm-proxy: token counts are whole numbers, never "12" or 12.0."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=200)
    model: str = Field(min_length=1, max_length=200)
    prompt_tokens: int = Field(ge=0, le=10_000_000, strict=True)
    max_completion_tokens: int | None = Field(default=None, ge=0, le=10_000_000, strict=True)
    ttl_seconds: int | None = Field(default=None, ge=1, le=86_400, strict=True)


class ReservationOut(BaseModel):
    reservation_id: uuid.UUID
    account_id: uuid.UUID
    held_tokens: int
    max_completion_tokens: int
    available: int
    expires_at: datetime


class ReleaseOut(BaseModel):
    reservation_id: uuid.UUID
    status: str
    available: int
