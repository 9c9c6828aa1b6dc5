"""Redis goes away: API routes go on with in-process limits, sign-in fails closed; then back."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import aiohttp
import pytest

from tests.integration.conftest import bearer, eventually, gateway_settings, run_gateway
from tests.integration.standins import StandIn
from tollgate.shared.plans import limits_for
from tollgate.shared.testing import SigningKey, free_port


class PrivateRedis:
    """A redis-server of this test's own, so stopping it disturbs nobody else."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=5)
            self.process = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    redis = PrivateRedis()
    redis.start()
    yield redis
    redis.stop()


async def test_without_redis_api_routes_use_local_limits_and_sign_in_is_refused_until_it_returns(
    standin: StandIn, jwks_url: str, signing_key: SigningKey, private_redis: PrivateRedis
) -> None:
    settings = gateway_settings(standin.url, jwks_url, redis_url=private_redis.url)
    token = signing_key.mint(plan="free")
    async with run_gateway(settings) as gw, aiohttp.ClientSession() as http:

        async def sign_in_status() -> int:
            async with http.post(gw.url + "/api/auth/login-json", json={}) as r:
                return r.status

        async def readiness() -> dict[str, object]:
            async with http.get(gw.url + "/readyz") as r:
                assert r.status == 200  # degraded, still serving
                body: dict[str, object] = await r.json()
                return body

        async def redis_answers() -> bool:
            return await sign_in_status() == 200

        await eventually(redis_answers, within=5)
        assert (await readiness())["status"] in ("ready", "degraded")

        private_redis.stop()

        assert await sign_in_status() == 503
        ready = await readiness()
        assert ready["status"] == "degraded"
        assert str(ready["checks"]["redis"]).startswith("failing")  # type: ignore[index]

        limit = limits_for("free")["llm_requests_per_minute"]
        statuses = []
        for _ in range(limit + 1):
            async with http.get(gw.url + "/v1/completions", headers=bearer(token)) as r:
                statuses.append(r.status)
                if r.status == 200:
                    assert r.headers["X-RateLimit-Limit"] == str(limit)
        assert statuses == [200] * limit + [429]

        private_redis.start()
        await asyncio.sleep(0.2)
        await eventually(redis_answers, within=5)
        assert (await readiness())["checks"]["redis"] == "ok"  # type: ignore[index]
        # Shared limits again: a fresh Redis has a full budget for this caller.
        async with http.get(gw.url + "/v1/completions", headers=bearer(token)) as r:
            assert r.status == 200


async def test_a_redis_that_accepts_but_never_answers_costs_at_most_the_redis_timeout(
    standin: StandIn, jwks_url: str, signing_key: SigningKey
) -> None:
    async def hang(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        await reader.read()  # swallow everything, answer nothing

    port = free_port()
    server = await asyncio.start_server(hang, "127.0.0.1", port)
    settings = gateway_settings(
        standin.url, jwks_url, redis_url=f"redis://127.0.0.1:{port}/0", redis_timeout=0.2
    )
    async with run_gateway(settings) as gw, aiohttp.ClientSession() as http:
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with http.get(
            gw.url + "/api/tokens/balance", headers=bearer(signing_key.mint())
        ) as r:
            assert r.status == 200  # in-process limits took over
        assert loop.time() - started < 0.2 + 0.3
        started = loop.time()
        async with http.post(gw.url + "/api/auth/login-json", json={}) as r:
            assert r.status == 503
        # Redis is known to be away: no second wait for it.
        assert loop.time() - started < 0.15
    server.close()
