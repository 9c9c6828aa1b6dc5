"""The keys auth signs tokens with, and the public keys it publishes.

One key signs at a time. Rotating makes a new key the signer and keeps the old
public key in the JWKS until the last token it signed has expired, so nobody is
logged out by a rotation. Every replica reloads the ring from the database
periodically, and on an unknown ``kid`` when verifying its own tokens.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tollgate.auth.models import SigningKey
from tollgate.auth.signing.repository import SigningKeyRepository
from tollgate.auth.signing.sealing import KeySeal

ALGORITHM = "EdDSA"


@dataclass(frozen=True)
class LoadedKey:
    kid: str
    private: Ed25519PrivateKey
    public_jwk: dict[str, Any]
    retired: bool


def public_jwk(private: Ed25519PrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "alg": ALGORITHM, "use": "sig"}


class KeyRing:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        seal: KeySeal,
        *,
        rotate_after: timedelta,
        publish_grace: timedelta,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.seal = seal
        self.rotate_after = rotate_after
        # How long a retired key stays published: the longest token lifetime plus leeway.
        self.publish_grace = publish_grace
        self._keys: list[LoadedKey] = []
        self._active_created: datetime | None = None

    @property
    def active(self) -> LoadedKey:
        for key in self._keys:
            if not key.retired:
                return key
        raise RuntimeError("no active signing key; KeyRing.ensure_active() was not awaited")

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in self._keys]}

    def public_keys(self) -> dict[str, Ed25519PrivateKey]:
        return {k.kid: k.private for k in self._keys}

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.active
        return jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})

    async def reload(self) -> None:
        async with self.sessionmaker() as session:
            rows = await SigningKeyRepository(session).published(datetime.now(UTC))
        self._load(rows)

    def _load(self, rows: Any) -> None:
        keys = []
        active_created = None
        for row in rows:
            raw = self.seal.open(row.private_key_encrypted, row.kid)
            keys.append(
                LoadedKey(
                    row.kid,
                    Ed25519PrivateKey.from_private_bytes(raw),
                    row.public_jwk,
                    row.retired_at is not None,
                )
            )
            if row.retired_at is None and active_created is None:
                active_created = row.created_at
        self._keys = keys
        self._active_created = active_created

    async def ensure_active(self) -> None:
        """Load the ring; create the first key, or rotate when the signer is too old."""
        now = datetime.now(UTC)
        async with self.sessionmaker() as session, session.begin():
            repo = SigningKeyRepository(session)
            await repo.lock_for_rotation()
            rows = await repo.published(now)
            active = next((r for r in rows if r.retired_at is None), None)
            if active is None or now - active.created_at > self.rotate_after:
                await self._rotate(repo, now)
                rows = await repo.published(now)
        self._load(rows)

    async def rotate(self) -> str:
        """Make a new key the signer now; returns its kid."""
        now = datetime.now(UTC)
        async with self.sessionmaker() as session, session.begin():
            repo = SigningKeyRepository(session)
            await repo.lock_for_rotation()
            kid = await self._rotate(repo, now)
            rows = await repo.published(now)
        self._load(rows)
        return kid

    async def _rotate(self, repo: SigningKeyRepository, now: datetime) -> str:
        private = Ed25519PrivateKey.generate()
        kid = now.strftime("%Y%m%d") + "-" + secrets.token_hex(4)
        raw = private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        repo.add(
            SigningKey(
                kid=kid,
                algorithm=ALGORITHM,
                private_key_encrypted=self.seal.seal(raw, kid),
                public_jwk=public_jwk(private, kid),
                created_at=now,
            )
        )
        await repo.session.flush()
        await repo.retire_all_except(kid, now, now + self.publish_grace)
        return kid
