from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from tollgate.shared.scopes import API_KEY_SCOPES


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ApiKeyCreate(StrictBody):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] | None = Field(None, max_length=len(API_KEY_SCOPES))
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class ApiKeyUpdate(StrictBody):
    name: str | None = Field(None, min_length=1, max_length=100)
    scopes: list[str] | None = Field(None, max_length=len(API_KEY_SCOPES))


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    last_four: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The full key. It is shown only in this response.")


class Introspection(StrictBody):
    key: str = Field(max_length=200)


class IntrospectionResult(BaseModel):
    active: bool
    key_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    scopes: list[str] | None = None
    access_token: str | None = None
    expires_in: int | None = None
