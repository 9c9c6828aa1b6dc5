"""Argon2id hashing, and the rules a new password must pass.

How guessable a password is, is zxcvbn's estimate: its bundled lists of common
passwords, names and words, and its rules for repeats (``aaaaaaaa``), sequences
(``abcdefgh``), keyboard walks and dates. A password it expects to fall within a
million guesses (score 0 or 1: an online attack's reach) is refused, with zxcvbn's
own words for why. An estimate costs one to a few milliseconds.

Accounts moved in from another backend keep their bcrypt hashes: a bcrypt hash is
verified as bcrypt, and replaced with argon2id at the first sign-in that proves it.
"""

from __future__ import annotations

import asyncio

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

MIN_LENGTH = 8
MAX_LENGTH = 128
# zxcvbn refuses longer input; what lies past 72 characters only adds strength.
_ESTIMATED_CHARACTERS = 72
# Scores: 0 under 10^3 guesses, 1 under 10^6, 2 under 10^8.
MIN_SCORE = 2
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
# bcrypt reads only the first 72 bytes; the backends we import from cut there too.
BCRYPT_MAX_BYTES = 72


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why a password may not be used, or None when it may."""
    if len(password) < MIN_LENGTH:
        return f"Password must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"Password must be at most {MAX_LENGTH} characters"
    if email and password.lower() == email.lower():
        return "Password must differ from the email address"
    hints = [email, email.split("@")[0]] if email else []
    estimate = zxcvbn(password[:_ESTIMATED_CHARACTERS], user_inputs=hints)
    if estimate["score"] < MIN_SCORE:
        feedback = estimate["feedback"]
        why = feedback["warning"] or "It would be found within a million guesses."
        advice = " ".join(feedback["suggestions"][:1])
        return f"Password is too easy to guess: {why} {advice}".strip()
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
