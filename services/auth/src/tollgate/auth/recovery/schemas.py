from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ForgotPassword(StrictBody):
    email: str = Field(max_length=320)


class ResetPassword(StrictBody):
    token: str = Field(min_length=1, max_length=200)
    new_password: str = Field(max_length=1024)


class ConfirmEmail(StrictBody):
    token: str = Field(min_length=1, max_length=200)


class Accepted(BaseModel):
    detail: str
