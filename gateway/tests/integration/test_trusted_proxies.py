"""The sign-in limit per address counts each person behind the web app on their own,
and nobody else can pick an address with X-Forwarded-For."""

from __future__ import annotations

import aiohttp
from redis.asyncio import Redis

from tests.integration.conftest import gateway_settings, run_gateway
from tests.integration.standins import StandIn
from tollgate.gateway import redis_keys

PEOPLE = ("198.51.100.1", "198.51.100.2")


async def sign_ins(http: aiohttp.ClientSession, url: str, forwarded_for: str, n: int) -> list[int]:
    statuses = []
    for _ in range(n):
        async with http.post(
            url + "/api/auth/login-json", json={}, headers={"X-Forwarded-For": forwarded_for}
        ) as response:
            statuses.append(response.status)
    return statuses


async def test_two_people_signing_in_through_the_web_app_do_not_share_a_limit(
    standin: StandIn, jwks_url: str, redis: Redis
) -> None:
    settings = gateway_settings(standin.url, jwks_url, trusted_proxies="127.0.0.1/32")
    limit = settings.auth_requests_per_minute_per_ip
    for address in PEOPLE:
        await redis.delete(redis_keys.bucket("auth", address))
    async with run_gateway(settings) as web_app_s_gateway, aiohttp.ClientSession() as http:
        first = await sign_ins(http, web_app_s_gateway.url, PEOPLE[0], limit + 1)
        second = await sign_ins(http, web_app_s_gateway.url, PEOPLE[1], limit)

    assert first == [200] * limit + [429]
    assert second == [200] * limit
    assert standin.last()["headers"]["x-forwarded-for"] == PEOPLE[1]


async def test_a_client_that_is_not_a_trusted_proxy_cannot_spoof_its_address(
    standin: StandIn, jwks_url: str, redis: Redis
) -> None:
    settings = gateway_settings(standin.url, jwks_url, trusted_proxies="10.9.9.9/32")
    limit = settings.auth_requests_per_minute_per_ip
    await redis.delete(redis_keys.bucket("auth", "127.0.0.1"))
    async with run_gateway(settings) as gateway, aiohttp.ClientSession() as http:
        statuses = [
            (await sign_ins(http, gateway.url, f"203.0.113.{n}", 1))[0] for n in range(limit + 1)
        ]

    assert statuses == [200] * limit + [429]
    assert standin.last()["headers"]["x-forwarded-for"] == "127.0.0.1"
