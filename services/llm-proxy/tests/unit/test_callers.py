"""A caller's token is checked once, then remembered until it expires, within a bound."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tollgate.llm_proxy.callers import VerifiedTokens
from tollgate.shared.errors import Unauthorized
from tollgate.shared.security import JWKSVerifier, Principal
from tollgate.shared.testing import AUDIENCE, ISSUER, SigningKey, jwks_server


class CountingVerifier(JWKSVerifier):
    """The real verifier, counting the signature checks it makes."""

    checks = 0

    async def verify(self, token: str) -> Principal:
        self.checks += 1
        return await super().verify(token)


async def test_a_token_is_verified_once_and_then_remembered() -> None:
    key = SigningKey()
    async with jwks_server(key) as (url, _):
        verifier = CountingVerifier(url, issuer=ISSUER, audience=AUDIENCE)
        tokens = VerifiedTokens(verifier)
        user = uuid.uuid4()
        token = key.mint(user)

        first = await tokens.principal(token)
        again = await tokens.principal(token)
        await verifier.close()

    assert first.user_id == again.user_id == user
    assert verifier.checks == 1


async def test_a_remembered_token_past_its_expiry_is_checked_again_and_refused() -> None:
    key = SigningKey()
    async with jwks_server(key) as (url, _):
        verifier = CountingVerifier(url, issuer=ISSUER, audience=AUDIENCE, leeway=0)
        tokens = VerifiedTokens(verifier)
        token = key.mint(uuid.uuid4(), ttl=2)
        await tokens.principal(token)

        # exp is whole seconds: two of them leave at least one for the first check.
        await asyncio.sleep(2.1)
        with pytest.raises(Unauthorized):
            await tokens.principal(token)
        await verifier.close()

    assert verifier.checks == 2


async def test_the_table_of_remembered_tokens_stays_within_its_capacity() -> None:
    key = SigningKey()
    async with jwks_server(key) as (url, _):
        verifier = CountingVerifier(url, issuer=ISSUER, audience=AUDIENCE)
        tokens = VerifiedTokens(verifier, capacity=2)
        oldest, *newer = [key.mint(uuid.uuid4()) for _ in range(3)]
        for token in (oldest, *newer):
            await tokens.principal(token)
        for token in newer:
            await tokens.principal(token)  # still remembered
        await tokens.principal(oldest)  # forgotten first, checked again
        await verifier.close()

    assert verifier.checks == 4
