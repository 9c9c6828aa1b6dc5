"""The proxy under test and what surrounds it: stand-ins, the test catalog, the Stack handle.

The proxy uses the real test database and the real broker; only the providers and
usage (another team's service) are stand-ins, both speaking the real protocols.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llm_standins import FakeProvider, FakeUsage

from tollgate.llm_proxy.catalog.schemas import CatalogFile
from tollgate.llm_proxy.catalog.service import Catalog
from tollgate.shared import testing
from tollgate.shared.testing import SigningKey

__all__ = [
    "AMQP_URL",
    "DATABASE_URL",
    "SERVICE_DIR",
    "FakeProvider",
    "FakeUsage",
    "Stack",
    "catalog_for",
]

SERVICE_DIR = Path(__file__).resolve().parents[2]
DATABASE_URL = testing.test_database_url("llm_proxy")
AMQP_URL = testing.test_amqp_url("llm_proxy")


def catalog_for(alpha: str, beta: str, claude: str) -> Catalog:
    document = CatalogFile.model_validate(
        {
            "providers": {
                "alpha": {"kind": "openai", "base_url": alpha + "/v1", "api_key_env": "ALPHA_KEY"},
                "beta": {"kind": "openai", "base_url": beta + "/v1"},
                # Nothing listens there: every call to it is a connect error.
                "dead": {"kind": "openai", "base_url": f"http://127.0.0.1:{testing.free_port()}/v1"},
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
