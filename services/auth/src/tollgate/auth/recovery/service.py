"""Password reset and email verification: single-use codes sent by email."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.accounts.passwords import Passwords
from tollgate.auth.accounts.repository import UserRepository
from tollgate.auth.accounts.service import check_password_rules
from tollgate.auth.models import OneTimeCode, User
from tollgate.auth.recovery.repository import OneTimeCodeRepository
from tollgate.shared.errors import BadRequest

PASSWORD_RESET = "password-reset"
VERIFY_EMAIL = "verify-email"


def hash_code(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class EmailCodes:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db
        self.repo = OneTimeCodeRepository(db)

    async def issue(self, user: User, purpose: str, ttl: timedelta) -> str:
        code = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        self.repo.add(
            OneTimeCode(
                id=uuid.uuid4(),
                purpose=purpose,
                code_hash=hash_code(code),
                user_id=user.id,
                created_at=now,
                expires_at=now + ttl,
            )
        )
        await self.db.flush()
        return code

    async def redeem(self, purpose: str, code: str) -> User:
        """The user the code was issued to; the code (and its older siblings) is spent."""
        now = datetime.now(UTC)
        row = await self.repo.usable_for_update(purpose, hash_code(code), now)
        user = None if row is None else await UserRepository(self.db).get(row.user_id)
        if row is None or user is None or user.deleted_at is not None:
            raise BadRequest("This link is invalid or has expired", type_slug="invalid-code")
        await self.repo.spend_all(user.id, purpose, now)
        return user


async def reset_password(
    db: AsyncSession, passwords: Passwords, code: str, new_password: str
) -> User:
    user = await EmailCodes(db).redeem(PASSWORD_RESET, code)
    check_password_rules(new_password, user.email)
    user.password_hash = await passwords.hash(new_password)
    # Whoever could read the mailbox proved they own it: the address is verified too.
    user.email_verified = True
    return user
