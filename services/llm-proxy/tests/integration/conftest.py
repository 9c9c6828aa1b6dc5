"""A running proxy on loopback, with stand-in providers and a stand-in usage service.

The proxy uses the real test database and the real broker; only the providers and
usage (another team's service) are stand-ins, both speaking the real protocols.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest
import uvicorn
from llm_stack import (
    AMQP_URL,
    DATABASE_URL,
    SERVICE_DIR,
    FakeProvider,
    FakeUsage,
    Stack,
    catalog_for,
)
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import create_async_engine

from tollgate.llm_proxy.app import create_app
from tollgate.llm_proxy.config import Settings
from tollgate.shared.testing import SigningKey, free_port, jwks_server, reset_database


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
            metering_retry_seconds=0.5,  # tests of a usage outage wait that long for a 503
            lease_idle_seconds=1.0,  # a ledger is checked once leases have idled out
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
            stuck = await _shut_down(server, serving)
            await engine.dispose()
            await usage.stop()
            for provider in providers:
                await provider.stop()
        if stuck:
            pytest.fail(f"the proxy did not shut down within {SHUTDOWN_BOUND} s:\n{stuck}")


# Longest a proxy's shutdown may take here: its own grace for streams is 15 s.
SHUTDOWN_BOUND = 30.0


async def _shut_down(server: uvicorn.Server, serving: asyncio.Task[None]) -> str:
    """Stop the server; if it has not stopped within the bound, force it and say what
    was still running (each task's stack), so a hang shows its cause."""
    try:
        await asyncio.wait_for(asyncio.shield(serving), SHUTDOWN_BOUND)
        return ""
    except TimeoutError:
        out = io.StringIO()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task() and not task.done():
                task.print_stack(file=out)
        server.force_exit = True
        await serving
        return out.getvalue()


@pytest.fixture
async def fresh(stack: Stack) -> Stack:
    """The stack with provider tallies and deployment health cleared for one test."""
    for provider in (stack.alpha, stack.beta, stack.claude):
        provider.reset()
    stack.app.state.deployment_health.forget()
    return stack
