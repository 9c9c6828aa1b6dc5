"""Journey 6: VS Code signs in with GitHub through the gateway, PKCE and a vscode:// redirect."""

from __future__ import annotations

import secrets
import uuid
from urllib.parse import parse_qsl, urlsplit

import httpx
from oauth_standin import Identity

from tollgate.auth.oauth.pkce import s256

VSCODE_REDIRECT = "vscode://tollgate.tollgate/auth-callback"


async def test_vscode_signs_in_with_github_through_the_gateway(
    gateway: httpx.AsyncClient, outside: object
) -> None:
    provider = outside.oauth  # type: ignore[attr-defined]
    email = f"octo-{uuid.uuid4().hex[:8]}@example.com"
    provider.next_identity = Identity(subject=str(uuid.uuid4().int % 10**9), email=email)
    verifier = secrets.token_urlsafe(48)

    started = await gateway.get(
        "/api/auth/oauth/github/authorize",
        params={
            "redirect_uri": VSCODE_REDIRECT,
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
            "state": "from-the-extension",
        },
    )
    assert started.status_code == 302, started.text
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(started.headers["location"])
        assert consent.status_code == 302
        callback = consent.headers["location"]
        assert callback.startswith(str(gateway.base_url))  # the provider returns to the gateway
        landed = await browser.get(callback)
    assert landed.status_code == 302, landed.text
    back = landed.headers["location"]
    assert back.startswith(VSCODE_REDIRECT + "?")
    query = dict(parse_qsl(urlsplit(back).query))
    assert query["state"] == "from-the-extension"

    wrong = await gateway.post(
        "/api/auth/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"],
            "code_verifier": secrets.token_urlsafe(48),
            "redirect_uri": VSCODE_REDIRECT,
        },
    )
    assert wrong.status_code == 400  # and the code is spent

    verifier2 = secrets.token_urlsafe(48)
    provider.next_identity = Identity(subject=str(uuid.uuid4().int % 10**9), email=email)
    again = await gateway.get(
        "/api/auth/oauth/github/authorize",
        params={
            "redirect_uri": VSCODE_REDIRECT,
            "code_challenge": s256(verifier2),
            "code_challenge_method": "S256",
            "state": "second",
        },
    )
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(again.headers["location"])
        landed = await browser.get(consent.headers["location"])
    code = dict(parse_qsl(urlsplit(landed.headers["location"]).query))["code"]
    tokens = await gateway.post(
        "/api/auth/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier2,
            "redirect_uri": VSCODE_REDIRECT,
        },
    )
    assert tokens.status_code == 200, tokens.text
    me = await gateway.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"}
    )
    assert me.json()["email"] == email


async def test_an_unregistered_redirect_uri_is_refused(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get(
        "/api/auth/oauth/github/authorize",
        params={
            "redirect_uri": "https://evil.example/steal",
            "code_challenge": s256("x" * 43),
            "code_challenge_method": "S256",
            "state": "s",
        },
    )
    assert response.status_code == 400
