"""GitHub and Google as OAuth 2.0 providers: where to send the browser, who came back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from tollgate.auth.config import Settings


@dataclass(frozen=True)
class ProviderIdentity:
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


class ProviderError(Exception):
    """The provider refused or failed; the user is sent back with ``error=...``."""


@dataclass(frozen=True)
class OAuthProvider:
    name: str
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    scope: str

    def authorize_redirect(self, callback: str, state: str, challenge: str) -> str:
        query = {
            "client_id": self.client_id,
            "redirect_uri": callback,
            "response_type": "code",
            "scope": self.scope,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.authorize_url}?{urlencode(query)}"

    async def exchange(
        self, http: httpx.AsyncClient, code: str, callback: str, verifier: str
    ) -> str:
        response = await http.post(
            self.token_url,
            data={
                "grant_type": "authorization_code",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "code": code,
                "redirect_uri": callback,
                "code_verifier": verifier,
            },
            headers={"Accept": "application/json"},
        )
        body = _json(response)
        token = body.get("access_token")
        if response.status_code != 200 or not isinstance(token, str):
            raise ProviderError(f"token exchange failed: {body.get('error', response.status_code)}")
        return token

    async def identity(self, http: httpx.AsyncClient, token: str) -> ProviderIdentity:
        raise NotImplementedError


@dataclass(frozen=True)
class GitHub(OAuthProvider):
    api_url: str = "https://api.github.com"

    async def identity(self, http: httpx.AsyncClient, token: str) -> ProviderIdentity:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}
        user = _json(await http.get(f"{self.api_url}/user", headers=headers))
        if "id" not in user:
            raise ProviderError("GitHub did not say who the user is")
        # The profile email may be unverified or hidden; the emails list says which is verified.
        emails = _json_list(await http.get(f"{self.api_url}/user/emails", headers=headers))
        primary = next((e for e in emails if e.get("primary") and e.get("verified")), None)
        return ProviderIdentity(
            subject=str(user["id"]),
            email=str(primary["email"]).lower() if primary else None,
            email_verified=primary is not None,
            name=user.get("name") or user.get("login"),
        )


@dataclass(frozen=True)
class Google(OAuthProvider):
    userinfo_url: str = "https://openidconnect.googleapis.com/v1/userinfo"

    async def identity(self, http: httpx.AsyncClient, token: str) -> ProviderIdentity:
        info = _json(
            await http.get(self.userinfo_url, headers={"Authorization": f"Bearer {token}"})
        )
        if "sub" not in info:
            raise ProviderError("Google did not say who the user is")
        email = info.get("email")
        return ProviderIdentity(
            subject=str(info["sub"]),
            email=str(email).lower() if email else None,
            email_verified=info.get("email_verified") is True,
            name=info.get("name"),
        )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderError(f"provider answered {response.status_code} without JSON") from exc
    if not isinstance(body, dict):
        raise ProviderError("provider answered with unexpected JSON")
    return body


def _json_list(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderError("provider answered without JSON") from exc
    return [e for e in body if isinstance(e, dict)] if isinstance(body, list) else []


def configured_providers(settings: Settings) -> dict[str, OAuthProvider]:
    providers: dict[str, OAuthProvider] = {}
    if settings.oauth_github_client_id and settings.oauth_github_client_secret:
        providers["github"] = GitHub(
            name="github",
            client_id=settings.oauth_github_client_id,
            client_secret=settings.oauth_github_client_secret.get_secret_value(),
            authorize_url=settings.oauth_github_authorize_url,
            token_url=settings.oauth_github_token_url,
            scope="read:user user:email",
            api_url=settings.oauth_github_api_url.rstrip("/"),
        )
    if settings.oauth_google_client_id and settings.oauth_google_client_secret:
        providers["google"] = Google(
            name="google",
            client_id=settings.oauth_google_client_id,
            client_secret=settings.oauth_google_client_secret.get_secret_value(),
            authorize_url=settings.oauth_google_authorize_url,
            token_url=settings.oauth_google_token_url,
            scope="openid email profile",
            userinfo_url=settings.oauth_google_userinfo_url,
        )
    return providers
