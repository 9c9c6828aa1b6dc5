"""Builders and probes shared by auth's integration tests."""

from __future__ import annotations

import asyncio
import email
import email.policy
import random
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aio_pika
import httpx
from oauth_standin import Identity, StandinProvider

from tollgate.auth.config import Settings
from tollgate.auth.oauth.pkce import s256
from tollgate.shared.messaging import EXCHANGE
from tollgate.shared.testing import (
    test_amqp_url,
    test_database_url,
    test_redis_url,
)

SERVICE_DIR = Path(__file__).resolve().parents[2]
DATABASE_URL = test_database_url("auth")
AMQP_URL = test_amqp_url("auth")
REDIS_URL = test_redis_url("auth")
GATEWAY_SECRET = "gateway-test-secret"
PASSWORD = "correct horse battery staple"
VSCODE_REDIRECT = "vscode://tollgate.tollgate/auth-callback"


def auth_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": DATABASE_URL,
        "amqp_url": AMQP_URL,
        "redis_url": REDIS_URL,
        "service_clients": f"gateway:{GATEWAY_SECRET},usage:usage-test-secret",
        "key_encryption_secret": "test-key-encryption-secret",
        "refresh_reuse_grace_seconds": 1,
        "public_url": "https://gateway.example.test",
        "oauth_redirect_uris": VSCODE_REDIRECT,
        "device_poll_interval_seconds": 1,
        # Nothing listens here: usage's figures and the served models are then unknown (the
        # end-to-end suite shows them filled in by the real services).
        "usage_url": "http://127.0.0.1:9",
        "llm_proxy_url": "http://127.0.0.1:9",
        **overrides,
    }
    return Settings(**values)


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


class SignedInUser:
    def __init__(self, email: str, body: dict[str, Any]) -> None:
        self.email = email
        self.body = body
        self.access = body["access_token"]
        self.refresh = body["refresh_token"]
        self.id = body["user"]["id"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


async def register(
    client: httpx.AsyncClient, email: str | None = None, **extra: Any
) -> SignedInUser:
    email = email or new_email()
    response = await client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Ada", **extra}
    )
    assert response.status_code == 201, response.text
    return SignedInUser(email, response.json())


async def service_token(client: httpx.AsyncClient) -> str:
    response = await client.post(
        "/internal/service-token",
        data={
            "grant_type": "client_credentials",
            "client_id": "gateway",
            "client_secret": GATEWAY_SECRET,
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


class EventTap:
    """A throwaway queue on the test vhost that sees the events auth publishes."""

    def __init__(self, routing_keys: list[str]) -> None:
        self.routing_keys = routing_keys
        self.events: list[dict[str, Any]] = []
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None

    async def __aenter__(self) -> EventTap:
        self._connection = await aio_pika.connect_robust(AMQP_URL)
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in self.routing_keys:
            await queue.bind(exchange, routing_key=key)
        await queue.consume(self._on_message, no_ack=True)
        return self

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        import json

        self.events.append(json.loads(message.body))

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            for event in self.events:
                if predicate(event):
                    return event
            await asyncio.sleep(0.05)
        raise AssertionError(f"no matching event among {self.events}")

    async def __aexit__(self, *exc: object) -> None:
        if self._connection is not None:
            await self._connection.close()


class MailSink:
    """aiosmtpd handler: collects (recipient, message) pairs."""

    def __init__(self) -> None:
        self.port = 0
        self.messages: list[tuple[list[str], email.message.Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    async def token_sent_to(self, address: str, after: int = 0, timeout: float = 5.0) -> str:
        """The ``token=`` of the first link mailed to ``address`` (message index ≥ ``after``)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            for recipients, message in self.messages[after:]:
                if address in recipients:
                    body = message.get_body(("plain",))
                    text = body.get_content() if body is not None else ""
                    found = re.search(r"token=([A-Za-z0-9_\-]+)", text)
                    if found:
                        return found.group(1)
            await asyncio.sleep(0.05)
        raise AssertionError(f"no mail with a token reached {address}")

    def count_to(self, address: str) -> int:
        return sum(1 for recipients, _ in self.messages if address in recipients)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def browser_round_trip(
    client: httpx.AsyncClient,
    provider: StandinProvider,
    who: Identity,
    verifier: str,
    *,
    name: str = "github",
    start: str | None = None,
) -> dict[str, str]:
    """What the browser does: our authorize → provider consent → our callback → vscode://."""
    provider.next_identity = who
    if start is None:
        started = await client.get(
            f"/api/auth/oauth/{name}/authorize",
            params={
                "redirect_uri": VSCODE_REDIRECT,
                "code_challenge": s256(verifier),
                "code_challenge_method": "S256",
                "state": "extension-state",
            },
        )
        assert started.status_code == 302, started.text
        start = started.headers["location"]
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(start)
    assert consent.status_code == 302
    back = urlsplit(consent.headers["location"])
    landed = await client.get(f"{back.path}?{back.query}")
    assert landed.status_code == 302, landed.text
    location = landed.headers["location"]
    assert location.startswith(VSCODE_REDIRECT + "?")
    return query_of(location)


async def exchange(
    client: httpx.AsyncClient, code: str, verifier: str, redirect_uri: str = VSCODE_REDIRECT
) -> httpx.Response:
    return await client.post(
        "/api/auth/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
        },
    )


def github_identity(email: str | None = None, verified: bool = True) -> Identity:
    return Identity(str(random.randint(10**6, 10**9)), email or new_email(), verified)


async def poll(client: httpx.AsyncClient, device_code: str) -> httpx.Response:
    return await client.post(
        "/api/auth/device/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": device_code,
        },
    )
