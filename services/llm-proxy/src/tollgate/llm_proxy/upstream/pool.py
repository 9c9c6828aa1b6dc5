"""One pooled aiohttp session per provider, and the adapter that speaks its protocol."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp
import orjson

from tollgate.llm_proxy.catalog.service import Deployment, Provider
from tollgate.llm_proxy.upstream.anthropic import AnthropicAdapter
from tollgate.llm_proxy.upstream.openai_compat import OpenAIAdapter
from tollgate.llm_proxy.upstream.protocol import Adapter

__all__ = ["UpstreamPool"]

ADAPTERS: Mapping[str, Adapter] = {"openai": OpenAIAdapter(), "anthropic": AnthropicAdapter()}
ENDPOINTS = {"openai": {"chat", "completions", "embeddings"}, "anthropic": {"chat"}}


class UpstreamPool:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        *,
        pool_size: int,
        connect_timeout: float,
    ) -> None:
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        for name in providers:
            connector = aiohttp.TCPConnector(
                limit=pool_size, limit_per_host=pool_size, ttl_dns_cache=300
            )
            self._sessions[name] = aiohttp.ClientSession(
                connector=connector,
                # Per-phase limits are applied by the caller; only connecting is bounded here.
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout),
                json_serialize=lambda obj: orjson.dumps(obj).decode(),
                auto_decompress=True,
                # Provider APIs authenticate by key; a cookie jar would only cost time per call.
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    def session(self, deployment: Deployment) -> aiohttp.ClientSession:
        return self._sessions[deployment.provider.name]

    def adapter(self, deployment: Deployment) -> Adapter:
        return ADAPTERS[deployment.provider.kind]

    def supports(self, deployment: Deployment, endpoint: str) -> bool:
        return endpoint in ENDPOINTS[deployment.provider.kind]

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
