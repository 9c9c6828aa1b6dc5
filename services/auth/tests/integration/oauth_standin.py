"""A local stand-in for GitHub's and Google's OAuth endpoints, speaking their protocols.

It consents at once as whichever identity the test put in ``next_identity``, and
checks what real providers check: client credentials, the redirect URI, single-use
codes and the PKCE verifier.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tollgate.shared.testing import free_port

CLIENT_ID = "standin-client"
CLIENT_SECRET = "standin-secret"


@dataclass
class Identity:
    subject: str
    email: str
    verified: bool = True
    name: str = "Octo Cat"


@dataclass
class StandinProvider:
    base_url: str = ""
    next_identity: Identity | None = None
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, Identity] = field(default_factory=dict)

    async def authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("client_id") != CLIENT_ID or q.get("code_challenge_method") != "S256":
            return web.json_response({"error": "invalid_request"}, status=400)
        assert self.next_identity is not None, "the test must choose who signs in"
        code = secrets.token_hex(8)
        self.codes[code] = {
            "identity": self.next_identity,
            "redirect_uri": q["redirect_uri"],
            "challenge": q["code_challenge"],
        }
        target = f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}"
        raise web.HTTPFound(target)

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant = self.codes.pop(str(form.get("code")), None)
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return web.json_response({"error": "invalid_client"}, status=401)
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return web.json_response({"error": "bad_verification_code"}, status=400)
        digest = hashlib.sha256(str(form.get("code_verifier")).encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            return web.json_response({"error": "invalid_grant"}, status=400)
        token = secrets.token_hex(16)
        self.tokens[token] = grant["identity"]
        return web.json_response({"access_token": token, "token_type": "bearer"})

    def _identity(self, request: web.Request) -> Identity:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        identity = self.tokens.get(token)
        if identity is None:
            raise web.HTTPUnauthorized()
        return identity

    async def github_user(self, request: web.Request) -> web.Response:
        who = self._identity(request)
        return web.json_response({"id": int(who.subject), "login": "octocat", "name": who.name})

    async def github_emails(self, request: web.Request) -> web.Response:
        who = self._identity(request)
        return web.json_response([{"email": who.email, "primary": True, "verified": who.verified}])

    async def google_userinfo(self, request: web.Request) -> web.Response:
        who = self._identity(request)
        return web.json_response(
            {
                "sub": who.subject,
                "email": who.email,
                "email_verified": who.verified,
                "name": who.name,
            }
        )

    def settings(self) -> dict[str, str]:
        return {
            "oauth_github_client_id": CLIENT_ID,
            "oauth_github_client_secret": CLIENT_SECRET,
            "oauth_github_authorize_url": f"{self.base_url}/login/oauth/authorize",
            "oauth_github_token_url": f"{self.base_url}/login/oauth/access_token",
            "oauth_github_api_url": self.base_url,
            "oauth_google_client_id": CLIENT_ID,
            "oauth_google_client_secret": CLIENT_SECRET,
            "oauth_google_authorize_url": f"{self.base_url}/google/authorize",
            "oauth_google_token_url": f"{self.base_url}/google/token",
            "oauth_google_userinfo_url": f"{self.base_url}/google/userinfo",
        }


@asynccontextmanager
async def standin_provider() -> AsyncIterator[StandinProvider]:
    provider = StandinProvider()
    app = web.Application()
    app.router.add_get("/login/oauth/authorize", provider.authorize)
    app.router.add_post("/login/oauth/access_token", provider.token)
    app.router.add_get("/user", provider.github_user)
    app.router.add_get("/user/emails", provider.github_emails)
    app.router.add_get("/google/authorize", provider.authorize)
    app.router.add_post("/google/token", provider.token)
    app.router.add_get("/google/userinfo", provider.google_userinfo)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    provider.base_url = f"http://127.0.0.1:{port}"
    try:
        yield provider
    finally:
        await runner.cleanup()
