"""Who is calling: the user whose access token came with the call.

The token is checked once, then remembered until it expires, in the service's table
of verified tokens (``tollgate.shared.verified_tokens``, built at start).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tollgate.shared.errors import Forbidden
from tollgate.shared.openapi import raises
from tollgate.shared.security import Principal, bearer_token
from tollgate.shared.verified_tokens import VerifiedTokens

__all__ = ["CallerDep", "calling_user", "current_caller"]


async def calling_user(tokens: VerifiedTokens[Principal], request: Request) -> Principal:
    """The calling user; service tokens are refused (403)."""
    principal = await tokens.verify(bearer_token(request))
    if principal.typ != "access":
        raise Forbidden("This route is for users, not services")
    return principal


@raises(401, 403, authenticates=True)
async def current_caller(request: Request) -> Principal:
    tokens: VerifiedTokens[Principal] = request.app.state.verified_tokens
    return await calling_user(tokens, request)


CallerDep = Annotated[Principal, Depends(current_caller)]
