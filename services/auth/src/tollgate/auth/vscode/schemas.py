from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tollgate.auth.accounts.schemas import UserOut
from tollgate.shared.model_prices import CreditPrice


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


class ModelPrice(BaseModel):
    input_per_million: str = Field(description="US dollars per million prompt tokens")
    output_per_million: str = Field(description="US dollars per million completion tokens")


class ServedModel(BaseModel):
    id: str
    context_window: int
    max_output_tokens: int
    endpoints: list[str] = Field(description="chat, completions, embeddings")
    price: ModelPrice | None = Field(None, description="What the provider charges, when known")
    credits: CreditPrice | None = Field(
        None,
        description=(
            "What a call costs from the balance, in credits per million tokens; "
            "null until prices are announced"
        ),
    )


class SignInMethods(BaseModel):
    password: bool = True
    device_code: bool = True
    oauth_providers: list[str] = Field(
        description="Providers for /api/auth/oauth/{provider}/authorize, e.g. github, google"
    )


class VscodeConfig(BaseModel):
    gateway_url: str
    openai_base_url: str
    plan: str
    models: list[ServedModel] | None = Field(
        description=(
            "The models the LLM proxy serves for this plan; null when it did not answer in time"
        )
    )
    sign_in_methods: SignInMethods
    limits: dict[str, Any]
