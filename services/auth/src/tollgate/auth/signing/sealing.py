"""Encrypting private keys at rest: AES-256-GCM under keys derived from configured secrets.

The first secret seals; every secret is tried when opening, so the secret can be
rotated by putting the new one first and keeping the old one until the keys it
sealed have been retired.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
_CONTEXT = b"tollgate-auth signing key v1"


class SealBroken(RuntimeError):
    """No configured secret opens a stored key: the secret was changed without keeping the old."""


class KeySeal:
    def __init__(self, *secrets: str) -> None:
        if not secrets:
            raise ValueError("at least one secret is needed")
        self._aeads = [AESGCM(hashlib.sha256(_CONTEXT + s.encode()).digest()) for s in secrets]

    def seal(self, plaintext: bytes, kid: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        # The kid is bound as associated data so a sealed key cannot be swapped onto another row.
        return nonce + self._aeads[0].encrypt(nonce, plaintext, kid.encode())

    def open(self, sealed: bytes, kid: str) -> bytes:
        for aead in self._aeads:
            try:
                return aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], kid.encode())
            except InvalidTag:
                continue
        raise SealBroken(
            f"signing key {kid} cannot be opened with AUTH_KEY_ENCRYPTION_SECRET; "
            "list the secret that sealed it after the new one (comma-separated)"
        )
