"""Helpers for the services' tests: real databases and broker, a signing key and its JWKS.

Nothing here replaces our own database or broker; it only prepares them. The
only stand-in is the token issuer, so services other than auth can be tested
without running auth.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aio_pika
import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tollgate.shared.db import run_alembic_upgrade

__all__ = [
    "TEST_PACKAGES",
    "SigningKey",
    "delete_queues",
    "free_port",
    "jwks_server",
    "reset_database",
    "test_amqp_url",
    "test_database_url",
    "test_redis_url",
]

# Each package's tests get their own vhost and Redis database (scripts/stack.sh makes
# them), so two packages' suites can run at once without reading each other's events.
TEST_PACKAGES = ("shared", "gateway", "auth", "billing", "usage", "llm_proxy", "e2e", "web")


def test_amqp_url(package: str) -> str:
    if package not in TEST_PACKAGES:
        raise ValueError(f"unknown test package {package}")
    return f"amqp://guest:guest@127.0.0.1:5672/tollgate_test_{package}"


def test_redis_url(package: str) -> str:
    return f"redis://127.0.0.1:6379/{15 - TEST_PACKAGES.index(package)}"


ISSUER = "tollgate-auth"
AUDIENCE = "tollgate"


def test_database_url(service: str) -> str:
    """The ``<service>_test`` database that scripts/stack.sh creates (``shared_test`` too)."""
    password = os.environ.get("TOLLGATE_DB_PASSWORD", "tollgate")
    return f"postgresql+asyncpg://tollgate_{service}:{password}@127.0.0.1:5432/{service}_test"


async def reset_database(url: str, service_dir: Path | None = None) -> None:
    """Drop everything in the database, then migrate it to head (when a service is given)."""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    if service_dir is not None:
        await asyncio.to_thread(run_alembic_upgrade, service_dir, url)


async def delete_queues(url: str, prefixes: list[str]) -> None:
    """Remove queues a test declared (with their retry and dead-letter twins)."""
    connection = await aio_pika.connect(url)
    async with connection:
        for name in prefixes:
            for suffix in ("", ".retry.1", ".retry.2", ".retry.3", ".retry.4", ".dlq"):
                channel = await connection.channel()
                try:
                    await channel.queue_delete(name + suffix)
                except Exception:  # noqa: S110 - absent queues are what we want
                    pass
                finally:
                    if not channel.is_closed:
                        await channel.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SigningKey:
    """An Ed25519 key that mints tokens the way auth does, for tests of other services."""

    def __init__(self, kid: str | None = None) -> None:
        self.kid = kid or uuid.uuid4().hex[:12]
        self.private = Ed25519PrivateKey.generate()

    def jwk(self) -> dict[str, Any]:
        public = jwt.algorithms.OKPAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": "EdDSA", "use": "sig"}

    def mint(
        self,
        sub: uuid.UUID | str | None = None,
        *,
        typ: str = "access",
        role: str = "user",
        plan: str = "free",
        org: uuid.UUID | None = None,
        parent: uuid.UUID | None = None,
        scopes: list[str] | None = None,
        ttl: int = 900,
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
        **extra: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer,
            "aud": audience,
            "sub": str(sub or uuid.uuid4()),
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "typ": typ,
            "sid": str(uuid.uuid4()) if typ == "access" else None,
            "role": role,
            "plan": plan,
            "org": str(org) if org else None,
            "parent": str(parent) if parent else None,
            "scopes": scopes or [],
            **extra,
        }
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": self.kid})


@asynccontextmanager
async def jwks_server(*keys: SigningKey) -> AsyncIterator[tuple[str, list[SigningKey]]]:
    """Serve a JWKS on loopback; append to the yielded list to publish more keys later."""
    published = list(keys)

    async def handler(_request: web.Request) -> web.Response:
        return web.json_response({"keys": [k.jwk() for k in published]})

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}/.well-known/jwks.json", published
    finally:
        await runner.cleanup()
