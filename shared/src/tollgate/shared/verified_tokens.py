"""Tokens verified once, then remembered until they expire: one table for every hop.

A caller on a hot path sends the same token with every request for the token's whole
life (15 minutes by default): the extension through the gateway, llm-proxy to usage
for itself and for its users. An Ed25519 check plus the claims costs more than the
rest of such a request's own work, and a verified token stays what it says until its
``exp``; revocation is decided elsewhere (the gateway's denylist, on every request,
cached or not). So what a token says is kept until then:

- keyed by a 16-byte BLAKE2b digest of the token: a fixed, small key whatever the
  token's length (up to 8 KB), and no bearer credential held as a key;
- bounded: the least recently used entry leaves first, so a flood of distinct valid
  tokens costs memory up to the bound and no more;
- built at start by whoever builds the verifier (``ServiceRuntime`` for the
  services, ``build_gateway`` for the gateway), never on first use.

Each owner keeps what it needs from the claims: the services a ``Principal``, the
gateway its lighter ``Caller``; ``read`` turns the one into the other once per token,
and may refuse it (an exception: nothing is remembered).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from tollgate.shared.security import JWKSVerifier, Principal

__all__ = ["VerifiedTokens", "principals"]

T = TypeVar("T")


class VerifiedTokens(Generic[T]):
    def __init__(
        self, verifier: JWKSVerifier, read: Callable[[Principal], T], *, capacity: int = 10_000
    ) -> None:
        self.verifier = verifier
        self.read = read
        self.capacity = capacity
        self._known: OrderedDict[bytes, tuple[T, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._known)

    async def verify(self, token: str) -> T:
        """What the token says; raises ``Unauthorized`` as the verifier (or ``read``) does."""
        key = hashlib.blake2b(token.encode(), digest_size=16).digest()
        known = self._known.get(key)
        if known is not None:
            if known[1] > time.time():
                self._known.move_to_end(key)
                return known[0]
            del self._known[key]
        principal = await self.verifier.verify(token)
        value = self.read(principal)
        self._known[key] = (value, principal.exp)
        if len(self._known) > self.capacity:
            self._known.popitem(last=False)
        return value


def _as_is(principal: Principal) -> Principal:
    return principal


def principals(verifier: JWKSVerifier, *, capacity: int = 10_000) -> VerifiedTokens[Principal]:
    """The table the services keep: the verified ``Principal`` itself."""
    return VerifiedTokens(verifier, _as_is, capacity=capacity)
