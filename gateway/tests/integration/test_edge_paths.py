"""What crosses the edge: normalised paths, redirects without internal addresses, no
server banner, and a request that never reached its service tried again."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from yarl import URL

from tests.integration.conftest import RunningGateway, bearer, gateway_settings, run_gateway
from tests.integration.standins import StandIn
from tollgate.shared.testing import SigningKey, free_port


async def test_a_disguised_registration_path_is_the_registration_route_throttled_per_address(
    gateway: RunningGateway, http: aiohttp.ClientSession, standin: StandIn
) -> None:
    for raw in ("/api/auth/%2e/register", "/api//auth/register/", "/api/auth%2Fregister"):
        async with http.post(URL(gateway.url + raw, encoded=True), json={}) as response:
            assert response.status in (200, 429), (raw, response.status)
            # The per-address sign-in limit, not the general per-account one.
            assert response.headers["RateLimit-Policy"].startswith('"auth"'), raw
            if response.status == 200:
                assert standin.last()["path"] == "/api/auth/register"


async def test_the_service_receives_the_path_the_route_was_chosen_by(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey, standin: StandIn
) -> None:
    token = signing_key.mint(plan="pro")
    url = URL(gateway.url + "/api/auth/me/?fields=a%20b", encoded=True)
    async with http.get(url, headers=bearer(token)) as response:
        assert response.status == 200
    assert standin.last()["path"] == "/api/auth/me?fields=a%20b"


async def test_a_services_redirect_to_itself_never_shows_its_internal_address(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey, standin: StandIn
) -> None:
    token = signing_key.mint(plan="pro")
    async with http.get(
        gateway.url + "/api/users/moved", headers=bearer(token), allow_redirects=False
    ) as response:
        assert response.status == 307
        assert response.headers["Location"] == "/api/users/profile?from=moved"
        assert standin.url.removeprefix("http://") not in str(response.headers)


async def raw_request(gateway: RunningGateway, request: bytes) -> str:
    host, port = gateway.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    answer = (await asyncio.wait_for(reader.read(), 5)).decode(errors="replace")
    writer.close()
    return answer


async def test_a_request_aiohttp_cannot_parse_names_no_python_or_aiohttp(
    gateway: RunningGateway,
) -> None:
    answer = await raw_request(
        gateway, b"GET /api/auth/me HTTP/1.1\r\nHost: x\r\nBad Header\x01: y\r\n\r\n"
    )
    assert answer.split(" ", 2)[1] == "400", answer[:80]
    head = answer.split("\r\n\r\n", 1)[0].lower()
    assert "python" not in head and "aiohttp" not in head, head


async def test_a_malformed_request_is_one_info_line_that_quotes_none_of_it(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone can send these: no error, no traceback, no piece of the header in the log."""
    secret = "Bearer " + "s3cr3t" * 3000  # over the 16 KiB a header may have
    caplog.set_level(logging.INFO, logger="aiohttp.server")
    for request in (
        f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: {secret}\r\n\r\n".encode(),
        b"GET /api/auth/me HTTP/1.1\r\nHost: x\r\nBad Header\x01: y\r\n\r\n",
    ):
        answer = await raw_request(gateway, request)
        assert answer.split(" ", 2)[1] == "400", answer[:80]

    seen = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [r.getMessage() for r in seen] == [
        "refused a malformed request: 400 LineTooLong",
        "refused a malformed request: 400 BadHttpMessage",
    ]
    assert all(r.levelno == logging.INFO and r.exc_info is None for r in seen)
    assert "s3cr3t" not in caplog.text and "Bad Header" not in caplog.text


async def one_answer_per_connection(answered: list[bytes]) -> tuple[asyncio.Server, int]:
    """A service that answers the first request of a connection, keeps it open as if for
    more, then hangs up on the next one unread: a pooled connection gone stale."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            0,
        )
        await reader.readexactly(length)
        answered.append(head.split(b"\r\n", 1)[0])
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        )
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    port = free_port()
    return await asyncio.start_server(serve, "127.0.0.1", port), port


async def test_a_post_on_a_pooled_connection_the_service_closed_is_sent_again_once(
    standin: StandIn, jwks_url: str, signing_key: SigningKey
) -> None:
    answered: list[bytes] = []
    server, port = await one_answer_per_connection(answered)
    settings = gateway_settings(standin.url, jwks_url, usage_url=f"http://127.0.0.1:{port}")
    token = signing_key.mint(plan="pro")
    async with run_gateway(settings) as gw, aiohttp.ClientSession() as http:
        for _ in range(3):
            async with http.post(
                gw.url + "/api/vscode/usage/track", headers=bearer(token), json={"events": []}
            ) as response:
                assert response.status == 200
    server.close()
    assert answered == [b"POST /api/vscode/usage/track HTTP/1.1"] * 3
