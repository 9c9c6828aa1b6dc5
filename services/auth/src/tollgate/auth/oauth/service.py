"""Sign-in with GitHub or Google, shaped for a VS Code extension.

    extension ──GET authorize?redirect_uri=vscode://…&code_challenge=…──► auth
    auth ──302──► provider (our own state and PKCE) ──302──► auth callback
    auth ──302──► vscode://…?code=<one-time code>&state=<the extension's state>
    extension ──POST oauth/token {code, code_verifier, redirect_uri}──► tokens

The one-time code lives at most ten minutes, works once, and only with the
verifier whose S256 hash the extension sent first. An identity is linked to an
existing account only when the provider vouches for the email address, or when
the account's owner started the flow while signed in.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.accounts.repository import UserRepository
from tollgate.auth.accounts.service import user_registered
from tollgate.auth.api_keys.service import ApiKeys
from tollgate.auth.events import publish
from tollgate.auth.models import OAuthAccount, OAuthCode, OAuthFlow, User
from tollgate.auth.oauth.pkce import is_valid_challenge, new_verifier, s256, verifier_matches
from tollgate.auth.oauth.providers import OAuthProvider, ProviderError, ProviderIdentity
from tollgate.auth.oauth.repository import OAuthRepository
from tollgate.auth.sessions.service import SessionRevocation
from tollgate.shared.errors import BadRequest, Conflict

FLOW_TTL = timedelta(minutes=10)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def with_query(uri: str, **params: str | None) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


class InvalidGrant(BadRequest):
    type_slug = "invalid-grant"


class OAuthSignIn:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db
        self.repo = OAuthRepository(db)

    async def start(
        self,
        provider: OAuthProvider,
        callback: str,
        *,
        redirect_uri: str,
        registered: frozenset[str],
        code_challenge: str,
        code_challenge_method: str,
        client_state: str | None,
        link_user_id: uuid.UUID | None = None,
    ) -> str:
        """Record the flow and return the provider URL to send the browser to."""
        if redirect_uri not in registered:
            raise BadRequest("redirect_uri is not registered", type_slug="invalid-redirect-uri")
        if code_challenge_method != "S256":
            raise BadRequest(
                "Only code_challenge_method=S256 is accepted", type_slug="invalid-pkce"
            )
        if not is_valid_challenge(code_challenge):
            raise BadRequest("code_challenge must be a base64url SHA-256", type_slug="invalid-pkce")
        state = secrets.token_urlsafe(32)
        verifier = new_verifier()
        now = datetime.now(UTC)
        self.repo.add(
            OAuthFlow(
                id=uuid.uuid4(),
                provider=provider.name,
                state_hash=digest(state),
                client_redirect_uri=redirect_uri,
                client_state=client_state,
                code_challenge=code_challenge,
                provider_verifier=verifier,
                link_user_id=link_user_id,
                created_at=now,
                expires_at=now + FLOW_TTL,
            )
        )
        url: str = provider.authorize_redirect(callback, state, s256(verifier))
        return url

    async def finish(
        self,
        provider: OAuthProvider,
        http: httpx.AsyncClient,
        callback: str,
        *,
        state: str,
        code: str | None,
        error: str | None,
        code_ttl: timedelta,
    ) -> str:
        """Complete the provider's side; returns where to send the browser (the client's URI)."""
        now = datetime.now(UTC)
        flow = await self.repo.flow_for_update(provider.name, digest(state))
        if flow is None or flow.used_at is not None or flow.expires_at <= now:
            # Without a live flow we do not know a safe place to redirect to.
            raise BadRequest("Sign-in attempt is unknown or has expired", type_slug="invalid-state")
        flow.used_at = now
        back = flow.client_redirect_uri
        if error or not code:
            return with_query(back, error=error or "access_denied", state=flow.client_state)
        try:
            token = await provider.exchange(http, code, callback, flow.provider_verifier)
            identity = await provider.identity(http, token)
        except (ProviderError, httpx.HTTPError):
            return with_query(back, error="server_error", state=flow.client_state)
        try:
            user = await self._user_for(provider.name, identity, flow.link_user_id)
        except (Conflict, BadRequest) as refused:
            return with_query(
                back,
                error="access_denied",
                error_description=refused.detail,
                state=flow.client_state,
            )
        one_time = secrets.token_urlsafe(32)
        self.repo.add(
            OAuthCode(
                code_hash=digest(one_time),
                user_id=user.id,
                code_challenge=flow.code_challenge,
                redirect_uri=back,
                created_at=now,
                expires_at=now + code_ttl,
            )
        )
        return with_query(back, code=one_time, state=flow.client_state)

    async def _user_for(
        self, provider: str, identity: ProviderIdentity, link_user_id: uuid.UUID | None
    ) -> User:
        users = UserRepository(self.db)
        linked = await self.repo.account(provider, identity.subject)
        if linked is not None:
            if link_user_id is not None and linked.user_id != link_user_id:
                raise Conflict("This account is already linked to another user")
            user = await users.get(linked.user_id)
            if user is None or not user.is_active or user.deleted_at is not None:
                raise BadRequest("This account is disabled")
            return user
        if link_user_id is not None:
            user = await users.get(link_user_id)
            if user is None or not user.is_active:
                raise BadRequest("This account is disabled")
        elif identity.email and identity.email_verified:
            user = await users.by_email(identity.email)
            if user is not None and (not user.is_active or user.deleted_at is not None):
                raise BadRequest("This account is disabled")
            if user is None:
                user = await self._new_user(identity)
            elif not user.email_verified:
                await self._evict_unproven_owner(user)
        else:
            raise BadRequest("The provider did not confirm an email address for this account")
        self.repo.add(
            OAuthAccount(
                id=uuid.uuid4(),
                user_id=user.id,
                provider=provider,
                provider_user_id=identity.subject,
                email=identity.email,
                created_at=datetime.now(UTC),
            )
        )
        return user

    async def _evict_unproven_owner(self, user: User) -> None:
        """The mailbox's owner arrives through the provider; whoever registered the
        address without proving it loses every way in they set up (pre-hijack defence)."""
        user.password_hash = None
        user.email_verified = True
        await ApiKeys(self.db).revoke_all(user.id)
        await SessionRevocation(self.db).revoke_user_everywhere(
            user.id, reason="email-proven-elsewhere"
        )

    async def _new_user(self, identity: ProviderIdentity) -> User:
        now = datetime.now(UTC)
        user = User(
            id=uuid.uuid4(),
            email=identity.email,
            name=identity.name,
            password_hash=None,
            role="user",
            is_active=True,
            email_verified=True,
            permissions=[],
            created_at=now,
            updated_at=now,
        )
        UserRepository(self.db).add(user)
        await self.db.flush()
        await publish(self.db, user.id, user_registered(user))
        return user

    async def redeem(self, code: str, verifier: str, redirect_uri: str) -> tuple[OAuthCode, User]:
        """The user behind a one-time code, if the verifier and redirect URI match."""
        now = datetime.now(UTC)
        row = await self.repo.code_for_update(digest(code))
        if row is None or row.expires_at <= now:
            raise InvalidGrant("The code is invalid or has expired")
        if row.used_at is not None:
            raise CodeReused(row)
        # Spent on any attempt, right or wrong: a code gets exactly one chance.
        row.used_at = now
        if row.redirect_uri != redirect_uri:
            raise InvalidGrant("redirect_uri does not match the authorization request")
        if not verifier_matches(verifier, row.code_challenge):
            raise InvalidGrant("code_verifier does not match the code_challenge")
        user = await UserRepository(self.db).get(row.user_id)
        if user is None or not user.is_active or user.deleted_at is not None:
            raise InvalidGrant("The account is disabled")
        return row, user


class CodeReused(InvalidGrant):
    def __init__(self, row: OAuthCode) -> None:
        super().__init__("The code was already used")
        self.row = row
