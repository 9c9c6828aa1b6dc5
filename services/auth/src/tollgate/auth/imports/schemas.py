"""Bodies of the import routes: one account, one organization, one membership per call."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, EmailStr, Field

from tollgate.shared.imports import SourceRef, StrictBody
from tollgate.shared.inputs import BoundedDatetime

# What bcrypt writes: version, cost, then 22 characters of salt and 31 of digest.
BCRYPT_HASH = r"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$"


class UserImport(SourceRef):
    email: EmailStr
    name: str | None = Field(default=None, max_length=200)
    role: Literal["user", "developer", "admin", "superadmin"] = "user"
    email_verified: bool = False
    is_active: bool = True
    created_at: BoundedDatetime | None = None
    password_hash: str | None = Field(default=None, pattern=BCRYPT_HASH)
    # A sub-user names its parent by the id an earlier import call returned.
    parent_id: uuid.UUID | None = None
    permissions: list[str] = Field(default_factory=list, max_length=50)
    token_limit: int | None = Field(default=None, ge=0, le=2**31 - 1)


class OrganizationImport(SourceRef):
    name: str = Field(min_length=1, max_length=200)
    created_at: BoundedDatetime | None = None


class MemberImport(StrictBody):
    role: Literal["owner", "admin", "member"] = "member"


class Imported(BaseModel):
    """The Tollgate id of the record, and whether this call created it (false: already in)."""

    id: uuid.UUID
    created: bool
