"""The rules of a promotion code, free of I/O: its text, and whether it may be redeemed.

Codes are compared upper-case with spaces removed, so ``welcome 2027`` typed from a
mail finds ``WELCOME2027``. Generated codes take 12 characters from an alphabet
without look-alikes (no 0/O, 1/I/L): 31^12 (about 7.9e17) codes, too many to guess
through the gateway's rate limits.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Protocol

from tollgate.shared.errors import Conflict, NotFound, TollgateError

__all__ = [
    "CODE_PATTERN",
    "CodeFacts",
    "CodeGone",
    "generate_code",
    "normalise_code",
    "refusal",
]

CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,39}$")
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


class CodeGone(TollgateError):
    """A code that existed but can no longer be redeemed (expired or deactivated)."""

    status_code, type_slug, title = 410, "promotion-code-expired", "Gone"


class CodeFacts(Protocol):
    @property
    def active(self) -> bool: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def redemptions(self) -> int: ...
    @property
    def max_redemptions(self) -> int: ...


def normalise_code(text: str) -> str:
    return "".join(text.split()).upper()


def generate_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def refusal(
    code: CodeFacts | None, *, already_redeemed: bool, now: datetime
) -> TollgateError | None:
    """Why this account may not redeem the code now, or None.

    The account's own earlier redemption is told first: it is the answer that
    explains most (the code may since have run out as well).
    """
    if code is None:
        return NotFound("No such promotion code", type_slug="promotion-code-not-found")
    if already_redeemed:
        return Conflict(
            "This account has already redeemed this code",
            type_slug="promotion-code-already-redeemed",
        )
    if not code.active:
        return CodeGone(
            "This promotion code has been withdrawn", type_slug="promotion-code-inactive"
        )
    if code.expires_at <= now:
        return CodeGone("This promotion code has expired")
    if code.redemptions >= code.max_redemptions:
        return Conflict(
            "This promotion code has been redeemed as many times as it allows",
            type_slug="promotion-code-exhausted",
        )
    return None
