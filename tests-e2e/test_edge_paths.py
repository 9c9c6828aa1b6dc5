"""The edge as an outsider sees it: one path, one route; no internal address, no banner."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from devstack import Stack
from journeys import PASSWORD, register


async def test_a_disguised_registration_path_registers_and_is_throttled_as_sign_in(
    gateway: httpx.AsyncClient,
) -> None:
    email = f"dots-{uuid.uuid4().hex[:8]}@example.com"
    answer = await gateway.post(
        "/api/auth/%2e/register", json={"email": email, "password": PASSWORD, "name": "Dot"}
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["RateLimit-Policy"].startswith('"auth"')


async def test_a_trailing_slash_is_the_same_route_and_no_redirect_shows_an_internal_address(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    person = await register(gateway, "Slash")
    for path in ("/api/auth/me/", "/api//auth/me", "/api/tokens/balance/", "/api/api-keys/"):
        answer = await gateway.get(path, headers=person.headers)
        assert answer.status_code == 200, (path, answer.status_code, answer.headers)
        assert "location" not in answer.headers
    internal = stack.url("auth").removeprefix("http://")
    answer = await gateway.get("/api/auth/me/", headers=person.headers)
    assert internal not in str(answer.headers) and internal not in answer.text


async def test_an_unparseable_request_gets_a_400_that_names_no_server_software(
    stack: Stack,
) -> None:
    host, port = stack.url("gateway").removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /api/auth/me HTTP/1.1\r\nHost: x\r\nBad Header\x01: y\r\n\r\n")
    await writer.drain()
    answer = (await asyncio.wait_for(reader.read(), 10)).decode(errors="replace")
    writer.close()
    head = answer.split("\r\n\r\n", 1)[0].lower()
    assert head.split(" ", 2)[1] == "400", head
    assert "python" not in head and "aiohttp" not in head, head
