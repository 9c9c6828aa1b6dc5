"""Argon2id hashing, and the rules a new password must pass."""

from __future__ import annotations

import asyncio
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MAX_LENGTH = 128


def _common_passwords() -> frozenset[str]:
    text = resources.files("tollgate.auth.accounts").joinpath("common-passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


COMMON_PASSWORDS = _common_passwords()


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why a password may not be used, or None when it may."""
    if len(password) < MIN_LENGTH:
        return f"Password must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"Password must be at most {MAX_LENGTH} characters"
    if password.lower() in COMMON_PASSWORDS:
        return "Password is too common; choose another"
    if email and password.lower() == email.lower():
        return "Password must differ from the email address"
    return None


class Passwords:
    """Hashing runs in a worker thread: 19 MiB of argon2 must not stall the event loop."""

    def __init__(self, *, time_cost: int, memory_cost: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )
        # Verified against when the email is unknown, so both paths cost the same.
        self._dummy = self._hasher.hash("tollgate-dummy-password")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    def _verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    async def verify(self, stored: str | None, password: str) -> bool:
        return await asyncio.to_thread(self._verify, stored, password)

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)
