"""A token is checked once, then remembered until it expires, within a bound."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tollgate.shared.errors import Unauthorized
from tollgate.shared.security import JWKSVerifier, Principal
from tollgate.shared.testing import AUDIENCE, ISSUER, SigningKey, jwks_server
from tollgate.shared.verified_tokens import VerifiedTokens, principals


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
        tokens = principals(verifier)
        user = uuid.uuid4()
        token = key.mint(user)

        first = await tokens.verify(token)
        again = await tokens.verify(token)
        await verifier.close()

    assert first.user_id == again.user_id == user
    assert verifier.checks == 1


async def test_a_remembered_token_past_its_expiry_is_checked_again_and_refused() -> None:
    key = SigningKey()
    async with jwks_server(key) as (url, _):
        verifier = CountingVerifier(url, issuer=ISSUER, audience=AUDIENCE, leeway=0)
        tokens = principals(verifier)
        token = key.mint(uuid.uuid4(), ttl=2)
        await tokens.verify(token)

        # exp is whole seconds: two of them leave at least one for the first check.
        await asyncio.sleep(2.1)
        with pytest.raises(Unauthorized):
            await tokens.verify(token)
        await verifier.close()

    assert verifier.checks == 2


async def test_a_changed_token_is_a_new_token_and_is_refused() -> None:
    key = SigningKey()
    async with jwks_server(key) as (url, _):
        verifier = CountingVerifier(url, issuer=ISSUER, audience=AUDIENCE)
        tokens = principals(verifier)
        token = key.mint(uuid.uuid4())
        await tokens.verify(token)
        with pytest.raises(Unauthorized):
            await tokens.verify(token[:-4] + "AAAA")
        await verifier.close()


async def test_the_least_recently_used_token_is_forgotten_first() -> None:
    key = SigningKey()
    async with jwks_server(key) as (url, _):
        verifier = CountingVerifier(url, issuer=ISSUER, audience=AUDIENCE)
        tokens = principals(verifier, capacity=2)
        used, idle, newest = [key.mint(uuid.uuid4()) for _ in range(3)]
        await tokens.verify(used)
        await tokens.verify(idle)
        await tokens.verify(used)  # used again: now the most recent
        await tokens.verify(newest)  # over capacity: the idle one leaves
        assert len(tokens) == 2
        await tokens.verify(used)
        assert verifier.checks == 3
        await tokens.verify(idle)  # forgotten, checked again
        await verifier.close()

    assert verifier.checks == 4


async def test_a_token_its_owner_refuses_is_refused_every_time_and_never_remembered() -> None:
    def users_only(principal: Principal) -> str:
        if principal.typ != "access":
            raise Unauthorized("Service tokens are not accepted here")
        return str(principal.sub)

    key = SigningKey()
    async with jwks_server(key) as (url, _):
        verifier = CountingVerifier(url, issuer=ISSUER, audience=AUDIENCE)
        tokens = VerifiedTokens(verifier, users_only)
        service = key.mint("service:llm-proxy", typ="service")
        for _ in range(2):
            with pytest.raises(Unauthorized):
                await tokens.verify(service)
        await verifier.close()

    assert verifier.checks == 2 and len(tokens) == 0
