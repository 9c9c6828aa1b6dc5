"""Who is calling: the user's access token, verified once and then remembered until it expires.

A client sends the same token with every call for its whole lifetime (15 minutes by
default), and checking an Ed25519 signature plus the claims costs more than the rest
of the request's own work. A token verified once stays valid until its ``exp``
(revocation is the gateway's job, docs/architecture.md §3), so the verified principal is kept
until then, in a bounded table keyed by the exact token text.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tollgate.shared.errors import Forbidden
from tollgate.shared.openapi import raises
from tollgate.shared.security import Principal, bearer_token
from tollgate.shared.security import VerifiedTokens as SharedVerifiedTokens

__all__ = ["CallerDep", "VerifiedTokens", "current_caller"]


class VerifiedTokens(SharedVerifiedTokens):
    async def user(self, request: Request) -> Principal:
        """The calling user; service tokens are refused (403)."""
        principal = await self.principal(bearer_token(request))
        if principal.typ != "access":
            raise Forbidden("This route is for users, not services")
        return principal


@raises(401, 403, authenticates=True)
async def current_caller(request: Request) -> Principal:
    tokens: VerifiedTokens = request.app.state.verified_tokens
    return await tokens.user(request)


CallerDep = Annotated[Principal, Depends(current_caller)]
