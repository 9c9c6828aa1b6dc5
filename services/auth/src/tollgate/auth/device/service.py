"""The device authorization grant (RFC 8628), for VS Code on a remote machine or in a browser.

The device asks for a code pair, shows the short user code, and polls. The user
opens the verification page elsewhere, signs in and approves; the next poll
gets the tokens, once.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.accounts.repository import UserRepository
from tollgate.auth.device.repository import DeviceAuthorizationRepository
from tollgate.auth.models import DeviceAuthorization, User
from tollgate.shared.errors import BadRequest

# RFC 8628 §6.1: consonants only, no look-alikes, nothing that spells a word.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
SLOW_DOWN_STEP = 5


class DeviceGrantError(BadRequest):
    """An RFC 8628 token-endpoint error; ``error`` carries the standard code."""

    def __init__(self, error: str, detail: str) -> None:
        super().__init__(detail, type_slug=error.replace("_", "-"), extra={"error": error})


@dataclass(frozen=True)
class DeviceCodes:
    device_code: str
    user_code: str
    expires_in: int
    interval: int


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def normalise_user_code(raw: str) -> str:
    return "".join(c for c in raw.upper() if c.isalnum())


def display_user_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


class DeviceGrant:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db
        self.repo = DeviceAuthorizationRepository(db)

    async def start(self, ttl: timedelta, interval: int) -> DeviceCodes:
        device_code = secrets.token_urlsafe(32)
        user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
        now = datetime.now(UTC)
        await self.repo.add(
            DeviceAuthorization(
                id=uuid.uuid4(),
                device_code_hash=digest(device_code),
                user_code=user_code,
                status="pending",
                interval=interval,
                created_at=now,
                expires_at=now + ttl,
            )
        )
        return DeviceCodes(
            device_code, display_user_code(user_code), int(ttl.total_seconds()), interval
        )

    async def _pending_by_user_code(self, user_code: str) -> DeviceAuthorization:
        row = await self.repo.by_user_code(normalise_user_code(user_code))
        if row is None or row.status != "pending" or row.expires_at <= datetime.now(UTC):
            raise BadRequest("This code is unknown or has expired", type_slug="invalid-user-code")
        return row

    async def decide(self, user_code: str, user: User, approve: bool) -> None:
        row = await self._pending_by_user_code(user_code)
        row.status = "approved" if approve else "denied"
        row.user_id = user.id

    async def poll(self, device_code: str) -> User:
        """The approving user, once; otherwise the RFC 8628 error the device should act on."""
        now = datetime.now(UTC)
        row = await self.repo.by_device_code_hash(digest(device_code))
        if row is None or row.status == "consumed":
            raise DeviceGrantError("invalid_grant", "The device code is unknown or already used")
        if row.expires_at <= now:
            raise DeviceGrantError("expired_token", "The device code has expired; start again")
        if row.status == "denied":
            raise DeviceGrantError("access_denied", "The request was denied")
        polled_too_soon = row.last_polled_at is not None and now - row.last_polled_at < timedelta(
            seconds=row.interval
        )
        row.last_polled_at = now
        if row.status == "pending":
            if polled_too_soon:
                row.interval += SLOW_DOWN_STEP
                raise DeviceGrantError("slow_down", f"Poll at most every {row.interval} seconds")
            raise DeviceGrantError("authorization_pending", "Waiting for the user to approve")
        user = None if row.user_id is None else await UserRepository(self.db).get(row.user_id)
        if user is None or not user.is_active or user.deleted_at is not None:
            raise DeviceGrantError("access_denied", "The account is disabled")
        row.status = "consumed"
        return user
