"""API keys: their format, checked before any lookup, and introspection at auth, cached.

Format (auth mints, the gateway checks; README "API key format")::

    tg_ + base62(24 random bytes, 33 chars) + base62(crc32(those 33 chars), 6 chars)

base62 uses the alphabet ``0-9A-Za-z``, most significant digit first, left-padded
with ``0``. The checksum is CRC-32 (zlib) of the ASCII text of the random part.
A key that fails this is refused without touching auth or Redis.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass

__all__ = [
    "API_KEY_PREFIX",
    "ApiKeyCache",
    "Introspection",
    "checksum",
    "generate_api_key",
    "is_well_formed",
]

API_KEY_PREFIX = "tg_"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62_SET = frozenset(BASE62)
RANDOM_BYTES = 24
RANDOM_CHARS = 33  # ceil(192 bits / log2(62))
CHECKSUM_CHARS = 6  # ceil(32 bits / log2(62))
API_KEY_LENGTH = len(API_KEY_PREFIX) + RANDOM_CHARS + CHECKSUM_CHARS


def base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(random_part: str) -> str:
    return base62(zlib.crc32(random_part.encode("ascii")), CHECKSUM_CHARS)


def generate_api_key() -> str:
    """A new key as auth mints it (here for tests and as the reference implementation)."""
    random_part = base62(int.from_bytes(secrets.token_bytes(RANDOM_BYTES), "big"), RANDOM_CHARS)
    return API_KEY_PREFIX + random_part + checksum(random_part)


def is_well_formed(key: str) -> bool:
    if len(key) != API_KEY_LENGTH or not key.startswith(API_KEY_PREFIX):
        return False
    body = key[len(API_KEY_PREFIX) :]
    if not _BASE62_SET.issuperset(body):
        return False
    random_part, given = body[:RANDOM_CHARS], body[RANDOM_CHARS:]
    return secrets.compare_digest(checksum(random_part), given)


@dataclass(frozen=True, slots=True)
class Introspection:
    """Auth's answer for a key: inactive, or the key's owner and a JWT to forward."""

    active: bool
    key_id: str | None = None
    access_token: str | None = None


class ApiKeyCache:
    """Introspection answers for a short while, keyed by a hash of the key (never the key).

    ``evict_key_id`` drops a revoked key's entry so the next request asks auth again.
    """

    def __init__(self, ttl: float, negative_ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[Introspection, float]] = OrderedDict()
        self._by_key_id: dict[str, bytes] = {}

    @staticmethod
    def digest(key: str) -> bytes:
        return hashlib.blake2b(key.encode(), digest_size=16).digest()

    def get(self, key: str) -> Introspection | None:
        digest = self.digest(key)
        entry = self._entries.get(digest)
        if entry is None:
            return None
        answer, expires_at = entry
        if time.monotonic() >= expires_at:
            self._drop(digest)
            return None
        return answer

    def put(self, key: str, answer: Introspection, token_expires_in: float | None = None) -> None:
        ttl = self.ttl if answer.active else self.negative_ttl
        if token_expires_in is not None:
            # The forwarded JWT must still be valid when the cache hands it out.
            ttl = min(ttl, max(0.0, token_expires_in - 30))
        if ttl <= 0:
            return
        digest = self.digest(key)
        self._entries[digest] = (answer, time.monotonic() + ttl)
        self._entries.move_to_end(digest)
        if answer.key_id:
            self._by_key_id[answer.key_id] = digest
        while len(self._entries) > self.max_entries:
            oldest, _ = next(iter(self._entries.items()))
            self._drop(oldest)

    def evict_key_id(self, key_id: str) -> None:
        digest = self._by_key_id.pop(key_id, None)
        if digest is not None:
            self._entries.pop(digest, None)

    def _drop(self, digest: bytes) -> None:
        answer, _ = self._entries.pop(digest)
        if answer.key_id and self._by_key_id.get(answer.key_id) == digest:
            del self._by_key_id[answer.key_id]
