from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator


class StrictBody(BaseModel):
    """Request bodies refuse unknown fields, so a typo is an error rather than ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Registration(StrictBody):
    email: EmailStr = Field(max_length=320)
    # Length and strength are checked by the service, to give one clear message.
    password: str = Field(max_length=1024)
    name: str | None = Field(None, max_length=200)
    first_name: str | None = Field(None, max_length=100)
    last_name: str | None = Field(None, max_length=100)

    @property
    def display_name(self) -> str | None:
        if self.name:
            return self.name
        parts = [p for p in (self.first_name, self.last_name) if p]
        return " ".join(parts) or None


class Credentials(StrictBody):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class PasswordChange(StrictBody):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class ProfileUpdate(StrictBody):
    name: str | None = Field(None, max_length=200)
    first_name: str | None = Field(None, max_length=100)
    last_name: str | None = Field(None, max_length=100)

    @model_validator(mode="after")
    def _something(self) -> ProfileUpdate:
        if not (self.name or self.first_name or self.last_name):
            raise ValueError("give name, or first_name and last_name")
        return self


class AccountDeletion(StrictBody):
    password: str | None = Field(None, max_length=1024)


class MonthlyUsage(BaseModel):
    api_calls: int = 0
    tokens_used: int = 0


class UserOut(BaseModel):
    id: uuid.UUID
    email: str | None
    name: str | None
    role: str
    subscription_tier: str
    monthly_usage: MonthlyUsage | None = Field(
        None,
        description=(
            "This period's calls and charged tokens, from the usage service, in sign-in "
            "answers and /api/auth/me; null when usage did not answer in time (and in lists)."
        ),
    )
    email_verified: bool = False
    is_active: bool = True
    org_id: uuid.UUID | None = None
    parent_user_id: uuid.UUID | None = None
    created_at: datetime | None = None


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class LoginResponse(TokenPair):
    user: UserOut
    api_endpoint: str
