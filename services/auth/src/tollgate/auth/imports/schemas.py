"""Bodies of the import routes: one account, one organization, one membership per call."""

from __future__ import annotations

import uuid
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, model_validator

# What bcrypt writes: version, cost, then 22 characters of salt and 31 of digest.
BCRYPT_HASH = r"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$"
SOURCE_NAME = r"^[a-z0-9][a-z0-9_.:/-]*$"


class SourceRef(BaseModel):
    """Where a record came from: the old system's collection or table, and its id there."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=100, pattern=SOURCE_NAME)
    source_id: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def no_nul_characters(self) -> Self:
        # PostgreSQL cannot store NUL in text: refuse it here as the caller's mistake.
        if any(isinstance(v, str) and "\x00" in v for v in self.__dict__.values()):
            raise ValueError("text fields may not contain NUL characters")
        return self


class UserImport(SourceRef):
    email: EmailStr
    name: str | None = Field(default=None, max_length=200)
    role: Literal["user", "developer", "admin", "superadmin"] = "user"
    email_verified: bool = False
    is_active: bool = True
    created_at: AwareDatetime | None = None
    password_hash: str | None = Field(default=None, pattern=BCRYPT_HASH)
    # A sub-user names its parent by the id an earlier import call returned.
    parent_id: uuid.UUID | None = None
    permissions: list[str] = Field(default_factory=list, max_length=50)
    token_limit: int | None = Field(default=None, ge=0, le=2**31 - 1)


class OrganizationImport(SourceRef):
    name: str = Field(min_length=1, max_length=200)
    created_at: AwareDatetime | None = None


class MemberImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["owner", "admin", "member"] = "member"


class Imported(BaseModel):
    """The Tollgate id of the record, and whether this call created it (false: already in)."""

    id: uuid.UUID
    created: bool
