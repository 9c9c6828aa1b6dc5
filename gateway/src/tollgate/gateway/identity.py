"""Who is calling: an access JWT verified locally, or an API key introspected at auth.

Verified tokens are remembered until their ``exp``, in the shared table of verified
tokens, so the common case costs a dictionary lookup instead of a signature check.
Revocation is not decided here: the admission step checks the denylist on every
request, cached or not.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from tollgate.gateway.apikeys import API_KEY_PREFIX, ApiKeyCache, Introspection, is_well_formed
from tollgate.gateway.errors import ServiceUnavailable, Unauthorized
from tollgate.shared.scopes import ApiKeyScope, canonical_scopes
from tollgate.shared.security import Principal
from tollgate.shared.verified_tokens import VerifiedTokens

__all__ = ["Authenticator", "Caller", "IntrospectFn"]

log = logging.getLogger("tollgate.gateway.identity")

MAX_CREDENTIAL_LENGTH = 8192

# POST /internal/api-keys/introspect at auth; returns auth's JSON answer.
IntrospectFn = Callable[[str], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Caller:
    """The verified caller, as far as the gateway needs to know."""

    user_id: str
    session_id: str | None
    api_key_id: str | None
    org_id: str | None
    plan: str | None
    issued_at: int
    expires_at: int
    token: str  # the access JWT forwarded to the service
    # A sub-user's parent: the account whose plan and limits the sub-user lives under.
    parent_id: str | None = None
    # An API key's scopes, as auth put them in the key's token (canonical text).
    scopes: str = ""

    @classmethod
    def from_principal(cls, principal: Principal) -> Caller:
        """The caller an access token names; a service token is refused."""
        if principal.typ != "access":
            raise Unauthorized("Service tokens are not accepted here", type_slug="invalid-token")
        return cls(
            user_id=str(principal.sub),
            session_id=str(principal.sid) if principal.sid else None,
            api_key_id=str(principal.api_key_id) if principal.api_key_id else None,
            org_id=str(principal.org) if principal.org else None,
            plan=principal.plan,
            issued_at=principal.iat or 0,
            expires_at=principal.exp,
            token=principal.token,
            parent_id=str(principal.parent) if principal.parent else None,
            scopes=canonical_scopes(principal.scopes),
        )

    @property
    def rate_key(self) -> str:
        """The account's bucket: every key and token of one account shares the plan's limit.

        A sub-user counts against its parent (the parent could otherwise multiply its
        limit by making sub-users); an organization's members each have their own.
        """
        return f"u:{self.parent_id or self.user_id}"

    def may_use_key_for(self, scope: ApiKeyScope | None) -> bool:
        """Whether this caller reaches a route needing ``scope`` of an API key."""
        if self.api_key_id is None:
            return True  # an interactive sign-in: scopes limit keys only
        return scope is not None and scope in self.scopes.split(",")


class Authenticator:
    def __init__(
        self,
        tokens: VerifiedTokens[Caller],
        api_keys: ApiKeyCache,
        introspect: IntrospectFn,
    ) -> None:
        self.tokens = tokens
        self.api_keys = api_keys
        self.introspect = introspect

    async def authenticate(self, authorization: str | None, api_key_header: str | None) -> Caller:
        credential = self._credential(authorization, api_key_header)
        if credential.startswith(API_KEY_PREFIX):
            return await self._api_key(credential)
        return await self._jwt(credential)

    @staticmethod
    def _credential(authorization: str | None, api_key_header: str | None) -> str:
        if authorization is not None:
            if len(authorization) > MAX_CREDENTIAL_LENGTH:
                raise Unauthorized("Authorization header is too long", type_slug="invalid-token")
            scheme, _, value = authorization.partition(" ")
            value = value.strip()
            if scheme.lower() != "bearer" or not value or " " in value:
                raise Unauthorized(
                    "Authorization must be 'Bearer <token or API key>'", type_slug="invalid-token"
                )
            return value
        if api_key_header is not None:
            value = api_key_header.strip()
            if not value.startswith(API_KEY_PREFIX) or len(value) > MAX_CREDENTIAL_LENGTH:
                raise Unauthorized(
                    "X-API-Key is not a Tollgate API key", type_slug="invalid-api-key"
                )
            return value
        raise Unauthorized("An access token or API key is required")

    async def _jwt(self, token: str) -> Caller:
        return await self.tokens.verify(token)  # raises Unauthorized

    async def _api_key(self, key: str) -> Caller:
        if not is_well_formed(key):
            raise Unauthorized("API key is malformed", type_slug="invalid-api-key")
        answer = self.api_keys.get(key)
        if answer is None:
            answer = await self._introspect(key)
        if not answer.active or answer.access_token is None:
            raise Unauthorized("API key is not valid", type_slug="invalid-api-key")
        caller = await self._jwt(answer.access_token)
        if caller.api_key_id is None and answer.key_id:
            caller = replace(caller, api_key_id=answer.key_id)
        return caller

    async def _introspect(self, key: str) -> Introspection:
        try:
            body = await self.introspect(key)
        except Exception as exc:
            log.warning("API key introspection failed: %s", exc)
            raise ServiceUnavailable("Cannot check API keys right now; try again") from exc
        if not body.get("active"):
            answer = Introspection(active=False)
            self.api_keys.put(key, answer)
            return answer
        answer = Introspection(
            active=True,
            key_id=str(body.get("key_id")) if body.get("key_id") else None,
            access_token=str(body["access_token"]),
        )
        expires_in = body.get("expires_in")
        self.api_keys.put(key, answer, float(expires_in) if expires_in is not None else None)
        return answer
