"""Whatever a client sends, the answer is a clear 4xx, never a 500."""

from __future__ import annotations

import asyncio

import aiohttp
from yarl import URL

from tests.integration.conftest import RunningGateway, bearer
from tests.integration.standins import StandIn
from tollgate.shared.testing import SigningKey


async def test_odd_paths_methods_and_credentials_get_4xx(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey, standin: StandIn
) -> None:
    token = signing_key.mint(plan="pro")
    cases: list[tuple[str, str, dict[str, str]]] = [
        ("GET", "/api/tokens/%2e%2e/%2e%2e/internal/service-token", bearer(token)),
        ("GET", "/internal%2Fservice-token", bearer(token)),
        ("GET", "/v1/%00", {}),
        ("PROPFIND", "/api/tokens/balance", {}),
        ("GET", "/api/tokens/balance", {"Authorization": "Bearer \u00e9\u00e9"}),
        ("GET", "/api/tokens/balance", {"X-API-Key": "tg_" + "\u00e9" * 39}),
        ("GET", "/api/tokens/balance", {"Authorization": "Bearer " + "a." * 3000}),
        ("GET", "/api/tokens/balance", {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"}),
    ]
    for method, path, headers in cases:
        async with http.request(
            method, URL(gateway.url + path, encoded=True), headers=headers
        ) as r:
            assert 400 <= r.status < 500, (method, path, r.status)


async def test_a_body_shorter_than_announced_is_not_forwarded_half_written(
    gateway: RunningGateway, signing_key: SigningKey, standin: StandIn
) -> None:
    before = len(standin.seen)
    host, port = gateway.url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /api/usage/stats HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {signing_key.mint(plan='pro')}\r\n".encode()
        + b"Content-Length: 100\r\n\r\nonly-part"
    )
    await writer.drain()
    writer.close()  # the client gives up mid-body
    await asyncio.sleep(0.3)
    assert len(standin.seen) == before
