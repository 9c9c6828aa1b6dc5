from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

Permission = Literal["llm", "read", "api_keys"]


def default_permissions() -> list[Permission]:
    return ["llm", "read"]


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SubUserCreate(StrictBody):
    email: EmailStr = Field(max_length=320)
    password: str = Field(max_length=1024)
    name: str | None = Field(None, max_length=200)
    permissions: list[Permission] = Field(default_factory=default_permissions)
    token_limit: int | None = Field(
        None, ge=0, strict=True, description="Monthly token cap; null: none"
    )


class SubUserUpdate(StrictBody):
    name: str | None = Field(None, max_length=200)
    permissions: list[Permission] | None = None
    token_limit: int | None = Field(None, ge=0, strict=True)
    clear_token_limit: bool = False
    is_active: bool | None = None


class SubUserOut(BaseModel):
    id: uuid.UUID
    email: str | None
    name: str | None
    permissions: list[str]
    token_limit: int | None
    is_active: bool
    created_at: datetime
