"""The API key format, shared with the gateway (which checks the checksum before any lookup).

    tg_ + RANDOM + CHECK
    RANDOM  base62 of 24 random bytes (192 bits), left-padded with "0" to 33 characters
    CHECK   base62 of CRC-32 (zlib) of the ASCII text of RANDOM, left-padded to 6 characters
    base62 alphabet: 0-9, A-Z, a-z (in that order)

A key is 42 characters. Only a SHA-256 of the whole key is stored; the display
prefix is its first 11 characters and the last four are kept to recognise it.
"""

from __future__ import annotations

import hashlib
import secrets
import zlib

PREFIX = "tg_"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_BYTES = 24
RANDOM_CHARS = 33
CHECK_CHARS = 6
KEY_LENGTH = len(PREFIX) + RANDOM_CHARS + CHECK_CHARS
DISPLAY_PREFIX_CHARS = 11


def base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(ALPHABET[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(random_part: str) -> str:
    return base62(zlib.crc32(random_part.encode("ascii")), CHECK_CHARS)


def new_api_key() -> str:
    random_part = base62(int.from_bytes(secrets.token_bytes(RANDOM_BYTES), "big"), RANDOM_CHARS)
    return PREFIX + random_part + checksum(random_part)


def is_well_formed(key: str) -> bool:
    """Shape and checksum only: a typo or a guessed key is refused without touching the database."""
    if len(key) != KEY_LENGTH or not key.startswith(PREFIX):
        return False
    body = key[len(PREFIX) :]
    if any(c not in ALPHABET for c in body):
        return False
    random_part, check = body[:RANDOM_CHARS], body[RANDOM_CHARS:]
    return secrets.compare_digest(checksum(random_part), check)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
