from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tollgate.auth.accounts.schemas import UserOut


class SessionValidation(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    machine_id: str = Field(min_length=1, max_length=200)
    extension_version: str = Field(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z.+\-]+$")


class VscodeSessionOut(BaseModel):
    id: uuid.UUID
    machine_id: str
    extension_version: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


class ValidationResult(BaseModel):
    valid: bool = True
    session: VscodeSessionOut
    user: UserOut


class VscodeConfig(BaseModel):
    gateway_url: str
    openai_base_url: str
    plan: str
    models: list[str] = Field(description='Models the plan may use; "*" means every model')
    limits: dict[str, Any]
