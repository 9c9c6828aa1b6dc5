from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

OrgRole = Literal["owner", "admin", "member"]


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrganizationCreate(StrictBody):
    name: str = Field(min_length=1, max_length=200)


class OrganizationOut(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    role: OrgRole


class MemberOut(BaseModel):
    user_id: uuid.UUID
    email: str | None
    name: str | None
    role: OrgRole
    joined_at: datetime


class RoleChange(StrictBody):
    role: OrgRole


class InvitationCreate(StrictBody):
    email: EmailStr = Field(max_length=320)
    role: Literal["admin", "member"] = "member"


class InvitationOut(BaseModel):
    id: uuid.UUID
    email: str
    role: str
    created_at: datetime
    expires_at: datetime


class InvitationAccept(StrictBody):
    token: str = Field(min_length=1, max_length=200)
