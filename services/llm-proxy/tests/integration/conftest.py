"""A running proxy on loopback, with stand-in providers and a stand-in usage service.

The proxy uses the real test database and the real broker; only the providers and
usage (another team's service) are stand-ins, both speaking the real protocols.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llm_standins import FakeProvider, FakeUsage

from tollgate.llm_proxy.app import create_app
from tollgate.llm_proxy.catalog.schemas import CatalogFile
from tollgate.llm_proxy.catalog.service import Catalog
from tollgate.llm_proxy.config import Settings
from tollgate.shared.testing import (
    SigningKey,
    free_port,
    jwks_server,
    reset_database,
    test_amqp_url,
    test_database_url,
)

SERVICE_DIR = Path(__file__).resolve().parents[2]
DATABASE_URL = test_database_url("llm_proxy")
AMQP_URL = test_amqp_url("llm_proxy")


def catalog_for(alpha: str, beta: str, claude: str) -> Catalog:
    document = CatalogFile.model_validate(
        {
            "providers": {
                "alpha": {"kind": "openai", "base_url": alpha + "/v1", "api_key_env": "ALPHA_KEY"},
                "beta": {"kind": "openai", "base_url": beta + "/v1"},
                # Nothing listens there: every call to it is a connect error.
                "dead": {"kind": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1"},
                "claude": {"kind": "anthropic", "base_url": claude, "api_key_env": "CLAUDE_KEY"},
            },
            "models": {
                "gpt-test": {
                    "endpoints": ["chat", "completions"],
                    "max_output_tokens": 1000,
                    "context_window": 4000,
                    "plans": ["free", "pro"],
                    "deployments": [
                        {"provider": "alpha", "model": "a-model", "input_per_million": "2",
                         "output_per_million": "8"},
                        {"provider": "beta", "model": "b-model", "input_per_million": "3",
                         "output_per_million": "9"},
                    ],
                },
                "claude-test": {
                    "tokenizer": "cl100k_base",
                    "plans": ["free", "pro"],
                    "deployments": [
                        {"provider": "claude", "model": "claude-x", "input_per_million": "1",
                         "output_per_million": "5"},
                    ],
                },
                "embed-test": {
                    "endpoints": ["embeddings"],
                    "tokenizer": "cl100k_base",
                    "plans": ["free", "pro"],
                    "deployments": [{"provider": "alpha", "model": "e-model"}],
                },
                "dead-first": {
                    "plans": ["free"],
                    "deployments": [
                        {"provider": "dead", "model": "gone"},
                        {"provider": "beta", "model": "b-model"},
                    ],
                },
                "pro-only": {
                    "plans": ["pro"],
                    "deployments": [{"provider": "beta", "model": "big"}],
                },
            },
        }
    )  # fmt: skip
    return Catalog.from_file(document, {"ALPHA_KEY": "sk-alpha-secret", "CLAUDE_KEY": "sk-claude"})


@dataclass
class Stack:
    url: str
    app: FastAPI
    key: SigningKey
    usage: FakeUsage
    alpha: FakeProvider
    beta: FakeProvider
    claude: FakeProvider
    engine: AsyncEngine

    def user(
        self, tokens: int = 100_000, plan: str = "free", **claims: object
    ) -> tuple[uuid.UUID, str]:
        user_id = uuid.uuid4()
        self.usage.fund(user_id, tokens)
        return user_id, self.key.mint(user_id, plan=plan, **claims)  # type: ignore[arg-type]

    def http(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=20
        )


@pytest.fixture(scope="session")
async def stack() -> AsyncIterator[Stack]:
    await reset_database(DATABASE_URL, SERVICE_DIR)
    key = SigningKey()
    providers = [FakeProvider("alpha"), FakeProvider("beta"), FakeProvider("claude")]
    for provider in providers:
        await provider.start()
    async with jwks_server(key) as (jwks_url, _):
        usage = FakeUsage(key, AMQP_URL)
        await usage.start()
        settings = Settings(
            env="test",
            database_url=DATABASE_URL,
            amqp_url=AMQP_URL,
            jwks_url=jwks_url,
            auth_internal_url=usage.url,
            usage_url=usage.url,
            client_secret=SecretStr("test-secret"),
            first_byte_timeout=3.0,
            idle_stream_timeout=0.5,
            disconnect_drain_seconds=1.5,
            cooldown_failures=2,
            cooldown_seconds=60,
            store_content=False,
        )
        app = create_app(settings, catalog_for(*(p.url for p in providers)))
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        serving = asyncio.create_task(server.serve())
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        engine = create_async_engine(DATABASE_URL)
        try:
            yield Stack(f"http://127.0.0.1:{port}", app, key, usage, *providers, engine)
        finally:
            server.should_exit = True
            await serving
            await engine.dispose()
            await usage.stop()
            for provider in providers:
                await provider.stop()


@pytest.fixture
async def fresh(stack: Stack) -> Stack:
    """The stack with provider tallies and deployment health cleared for one test."""
    for provider in (stack.alpha, stack.beta, stack.claude):
        provider.reset()
    stack.app.state.deployment_health.forget()
    return stack
