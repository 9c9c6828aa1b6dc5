"""Argon2id hashing, and the rules a new password must pass.

Accounts moved in from another backend keep their bcrypt hashes: a bcrypt hash is
verified as bcrypt, and replaced with argon2id at the first sign-in that proves it.
"""

from __future__ import annotations

import asyncio
from importlib import resources

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MAX_LENGTH = 128
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
# bcrypt reads only the first 72 bytes; the backends we import from cut there too.
BCRYPT_MAX_BYTES = 72


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
        if stored is not None and is_bcrypt(stored):
            try:
                return bcrypt.checkpw(password.encode()[:BCRYPT_MAX_BYTES], stored.encode())
            except ValueError:  # a malformed hash proves nothing
                return False
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    async def verify(self, stored: str | None, password: str) -> bool:
        return await asyncio.to_thread(self._verify, stored, password)

    def needs_rehash(self, stored: str) -> bool:
        return is_bcrypt(stored) or self._hasher.check_needs_rehash(stored)


def is_bcrypt(stored: str) -> bool:
    return stored.startswith(BCRYPT_PREFIXES)
