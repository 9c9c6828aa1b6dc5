"""Encrypting private keys at rest: AES-256-GCM under a key derived from a configured secret."""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
_CONTEXT = b"tollgate-auth signing key v1"


class KeySeal:
    def __init__(self, secret: str) -> None:
        self._aead = AESGCM(hashlib.sha256(_CONTEXT + secret.encode()).digest())

    def seal(self, plaintext: bytes, kid: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        # The kid is bound as associated data so a sealed key cannot be swapped onto another row.
        return nonce + self._aead.encrypt(nonce, plaintext, kid.encode())

    def open(self, sealed: bytes, kid: str) -> bytes:
        return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], kid.encode())
