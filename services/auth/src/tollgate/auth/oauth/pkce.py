"""PKCE (RFC 7636), S256 only: ``plain`` would let anyone who sees the redirect use the code."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

_CHALLENGE = re.compile(r"^[A-Za-z0-9_\-]{43}$")
_VERIFIER = re.compile(r"^[A-Za-z0-9._~\-]{43,128}$")


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def is_valid_challenge(challenge: str) -> bool:
    return bool(_CHALLENGE.match(challenge))


def verifier_matches(verifier: str, challenge: str) -> bool:
    if not _VERIFIER.match(verifier):
        return False
    return secrets.compare_digest(s256(verifier), challenge)


def new_verifier() -> str:
    return secrets.token_urlsafe(48)
