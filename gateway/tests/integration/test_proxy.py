"""Streaming, timeouts, retries and the hygiene of what crosses the edge."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import aiohttp
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from tests.integration.conftest import RunningGateway, bearer, gateway_settings, run_gateway
from tests.integration.standins import StandIn
from tollgate.shared.errors import OUTAGE_RETRY_AFTER_SECONDS
from tollgate.shared.testing import SigningKey, free_port


async def test_an_sse_stream_arrives_chunk_by_chunk_before_the_service_finishes(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey, standin: StandIn
) -> None:
    standin.stream_ended.clear()
    token = signing_key.mint(plan="pro")
    async with http.get(gateway.url + "/v1/stream", headers=bearer(token)) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        received = []
        for n in range(3):
            chunk = await asyncio.wait_for(response.content.readuntil(b"\n\n"), timeout=2)
            received.append(chunk)
            # The service is still holding back the rest until we ask for it.
            assert not standin.stream_ended.is_set()
            assert chunk == f'data: {{"n": {n}}}\n\n'.encode()
            standin.next_event.set()
        assert await response.content.readuntil(b"\n\n") == b"data: [DONE]\n\n"
    assert standin.stream_ended.is_set()


async def test_a_client_that_hangs_up_mid_stream_cancels_the_upstream_call(
    gateway: RunningGateway, signing_key: SigningKey, standin: StandIn
) -> None:
    standin.stream_cancelled.clear()
    standin.next_event.clear()
    async with aiohttp.ClientSession() as own:
        response = await own.get(
            gateway.url + "/v1/stream", headers=bearer(signing_key.mint(plan="pro"))
        )
        await asyncio.wait_for(response.content.readuntil(b"\n\n"), timeout=2)
        response.close()  # hang up with the stream still open
    await asyncio.wait_for(standin.stream_cancelled.wait(), timeout=3)


async def test_a_slow_service_gets_504_within_the_timeout(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey
) -> None:
    read_timeout = gateway.state.settings.read_timeout
    token = signing_key.mint(plan="pro")
    started = time.monotonic()
    async with http.get(gateway.url + "/api/usage/slow?seconds=5", headers=bearer(token)) as r:
        assert r.status == 504
        assert r.content_type == "application/problem+json"
    assert time.monotonic() - started < read_timeout + 0.5
    async with http.get(gateway.url + "/v1/slow?seconds=5", headers=bearer(token)) as r:
        assert r.status == 504
        assert (await r.json())["error"]["code"] == "gateway_timeout"


async def dropping_listener(counter: list[int]) -> tuple[asyncio.Server, int]:
    """A TCP server that accepts and hangs up at once: a service crashing on every call."""

    async def drop(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counter.append(1)
        writer.close()

    port = free_port()
    server = await asyncio.start_server(drop, "127.0.0.1", port)
    return server, port


async def test_only_idempotent_methods_are_retried_and_then_502(
    standin: StandIn, jwks_url: str, signing_key: SigningKey
) -> None:
    connections: list[int] = []
    server, port = await dropping_listener(connections)
    settings = gateway_settings(standin.url, jwks_url, usage_url=f"http://127.0.0.1:{port}")
    token = signing_key.mint(plan="pro")
    async with run_gateway(settings) as gw, aiohttp.ClientSession() as http:
        async with http.get(gw.url + "/api/tokens/balance", headers=bearer(token)) as r:
            assert r.status == 502
        # aiohttp itself repeats an idempotent call once on a dropped connection.
        attempts = 1 + settings.idempotent_retries
        assert attempts <= len(connections) <= 2 * attempts
        connections.clear()
        async with http.post(gw.url + "/api/usage/stats", headers=bearer(token)) as r:
            assert r.status == 502
        assert len(connections) == 1
    server.close()


async def test_a_service_that_is_down_gets_502_and_the_outage_retry_after(
    standin: StandIn, jwks_url: str, signing_key: SigningKey
) -> None:
    settings = gateway_settings(
        standin.url, jwks_url, billing_url=f"http://127.0.0.1:{free_port()}"
    )
    async with run_gateway(settings) as gw, aiohttp.ClientSession() as http:
        token = signing_key.mint(plan="pro")
        async with http.get(gw.url + "/api/subscriptions/current", headers=bearer(token)) as r:
            assert r.status == 502
            assert (await r.json())["type"].endswith("bad-gateway")
            assert r.headers["Retry-After"] == str(OUTAGE_RETRY_AFTER_SECONDS)


async def test_a_body_over_the_limit_is_refused_with_413(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey, standin: StandIn
) -> None:
    limit = gateway.state.settings.max_body_bytes
    token = signing_key.mint(plan="pro")
    before = len(standin.seen)
    async with http.post(
        gateway.url + "/api/usage/stats", data=b"x" * (limit + 1), headers=bearer(token)
    ) as r:
        assert r.status == 413

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(limit // 4096 + 2):
            yield b"y" * 4096

    async with http.post(
        gateway.url + "/api/usage/stats", data=chunked(), headers=bearer(token)
    ) as r:
        assert r.status == 413
    assert len(standin.seen) == before


async def test_hop_by_hop_headers_are_stripped_and_forwarding_and_trace_headers_set(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey, standin: StandIn
) -> None:
    headers = {
        **bearer(signing_key.mint(plan="pro")),
        "Connection": "keep-alive, X-Private-Hop",
        "X-Private-Hop": "secret",
        "Proxy-Authorization": "Basic abc",
        "X-Forwarded-For": "6.6.6.6",
        "X-Request-ID": "req-123",
        "X-Custom": "kept",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    }
    async with http.get(gateway.url + "/api/usage/stats?by=day", headers=headers) as r:
        assert r.status == 200
        assert r.headers["X-Upstream"] == "yes"
        assert "Keep-Alive" not in r.headers
        assert r.headers["X-Request-ID"] == "req-123"
    seen = standin.last()
    assert seen["path"] == "/api/usage/stats?by=day"
    for dropped in ("x-private-hop", "proxy-authorization"):
        assert dropped not in seen["headers"]
    assert seen["headers"]["x-custom"] == "kept"
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert seen["headers"]["x-request-id"] == "req-123"
    assert seen["headers"]["x-forwarded-proto"] == "http"
    assert seen["headers"]["traceparent"] == headers["traceparent"]


async def test_every_answer_carries_a_request_id_and_security_headers(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey, standin: StandIn
) -> None:
    for path in ("/api/tokens/balance", "/api/nowhere", "/healthz"):
        async with http.get(gateway.url + path, headers=bearer(signing_key.mint())) as r:
            assert len(r.headers["X-Request-ID"]) >= 16
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert r.headers["X-Frame-Options"] == "DENY"
            assert "Server" not in r.headers
    assert len(standin.last()["headers"]["x-request-id"]) >= 16
    async with http.get(gateway.url + "/healthz", headers={"X-Request-ID": "bad id\u00e9"}) as r:
        assert r.headers["X-Request-ID"] != "bad id\u00e9"


async def test_cors_answers_listed_origins_only(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey
) -> None:
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    async with http.options(gateway.url + "/v1/chat/completions", headers=preflight) as r:
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert r.headers["Access-Control-Allow-Credentials"] == "true"
        assert "POST" in r.headers["Access-Control-Allow-Methods"]
    evil = {**preflight, "Origin": "https://evil.example"}
    async with http.options(gateway.url + "/v1/chat/completions", headers=evil) as r:
        assert r.status == 403
        assert "Access-Control-Allow-Origin" not in r.headers
    headers = {**bearer(signing_key.mint(plan="pro")), "Origin": "https://app.example"}
    async with http.get(gateway.url + "/api/tokens/balance", headers=headers) as r:
        assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert "RateLimit" in r.headers["Access-Control-Expose-Headers"]


async def test_the_merged_openapi_document_and_docs_page_are_served(
    gateway: RunningGateway, http: aiohttp.ClientSession, standin: StandIn
) -> None:
    balance = {"application/json": {"schema": {"$ref": "#/components/schemas/Balance"}}}
    hold = {"application/json": {"schema": {"$ref": "#/components/schemas/Hold"}}}
    standin.openapi.update(
        {
            "openapi": "3.1.0",
            "paths": {
                "/api/tokens/balance": {"get": {"responses": {"200": {"content": balance}}}},
                "/internal/reservations": {"post": {"responses": {"201": {"content": hold}}}},
            },
            "components": {"schemas": {"Balance": {"type": "object"}, "Hold": {"type": "object"}}},
        }
    )
    async with http.get(gateway.url + "/openapi.json") as r:
        assert r.status == 200
        document = await r.json()
    assert "/api/tokens/balance" in document["paths"]
    assert not any(p.startswith("/internal") for p in document["paths"])
    assert "Balance" in document["components"]["schemas"]
    assert "Hold" not in document["components"]["schemas"]  # only internal routes used it
    assert document["servers"] == [{"url": "/", "description": "this gateway"}]
    assert document["paths"]["/api/tokens/balance"]["get"]["security"] == [
        {"bearer": []},
        {"apiKey": []},
    ]


async def test_the_docs_page_loads_everything_from_the_gateway_itself(
    gateway: RunningGateway, http: aiohttp.ClientSession
) -> None:
    async with http.get(gateway.url + "/docs") as r:
        assert r.status == 200
        page = await r.text()
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    # No CDN: with no network the page still has Swagger UI and its start script.
    assert "http://" not in page and "https://" not in page
    assets = re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', page)
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/start.js"} <= set(assets)
    for asset in assets:
        async with http.get(gateway.url + asset) as r:
            assert r.status == 200, asset
            body = await r.read()
            assert len(body) > 100, asset
    async with http.get(gateway.url + "/docs/assets/redoc.standalone.js") as r:
        assert r.status == 404
        assert r.content_type == "application/problem+json"


async def test_metrics_count_requests_and_rate_limit_decisions(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey
) -> None:
    async with http.get(
        gateway.url + "/api/tokens/balance", headers=bearer(signing_key.mint())
    ) as r:
        assert r.status == 200
    async with http.get(gateway.url + "/metrics") as r:
        text = await r.text()
    assert 'tollgate_http_requests_total{method="GET",route="/api/tokens",service="gateway"' in text
    decisions = "tollgate_gateway_rate_limit_decisions_total"
    assert f'{decisions}{{outcome="allowed",route_class="general"}}' in text


async def test_with_an_exporter_the_gateway_adds_its_span_to_the_callers_trace(
    standin: StandIn, jwks_url: str, signing_key: SigningKey
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    caller_span = "00f067aa0ba902b7"
    settings = gateway_settings(standin.url, jwks_url, otlp_endpoint=standin.url)
    async with run_gateway(settings) as gw, aiohttp.ClientSession() as http:
        headers = {
            **bearer(signing_key.mint(plan="pro")),
            "traceparent": f"00-{trace_id}-{caller_span}-01",
        }
        async with http.get(gw.url + "/api/usage/stats", headers=headers) as r:
            assert r.status == 200
    forwarded = standin.last()["headers"]["traceparent"].split("-")
    assert forwarded[1] == trace_id  # same trace
    assert forwarded[2] != caller_span  # the gateway's own span is the parent now
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    # The exporter is synchronous; the stand-in collector needs this loop to answer it.
    await asyncio.to_thread(provider.force_flush)
    assert standin.trace_exports  # and the span went to the collector


async def test_head_keeps_the_length_the_service_announced(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey
) -> None:
    headers = bearer(signing_key.mint(plan="pro"))
    async with http.get(gateway.url + "/api/usage/stats", headers=headers) as r:
        length = r.headers["Content-Length"]
    async with http.head(gateway.url + "/api/usage/stats", headers=headers) as r:
        assert r.status == 200
        assert r.headers["Content-Length"] == length


async def dying_stream_service(events: list[bytes]) -> tuple[asyncio.Server, int]:
    """A service that starts an event stream, sends ``events``, then dies mid-answer."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for event in events:
            writer.write(b"%x\r\n%s\r\n" % (len(event), event))
        await writer.drain()
        writer.transport.abort()  # no last chunk: the process is gone

    port = free_port()
    return await asyncio.start_server(serve, "127.0.0.1", port), port


async def test_a_stream_whose_service_dies_ends_with_an_error_event_and_done(
    standin: StandIn, jwks_url: str, signing_key: SigningKey
) -> None:
    token = signing_key.mint(plan="pro")
    for sent, ending in [
        ([b'data: {"n": 0}\n\n'], b'data: {"error":'),
        ([b'data: {"n": 0}\n\n', b'data: {"n"'], b'\n\ndata: {"error":'),  # cut mid-event
        ([b'data: {"n": 0}\n\n', b"data: [DONE]\n\n"], b""),  # finished: only the end
    ]:
        server, port = await dying_stream_service(sent)
        settings = gateway_settings(standin.url, jwks_url, llm_proxy_url=f"http://127.0.0.1:{port}")
        async with (
            run_gateway(settings) as gw,
            aiohttp.ClientSession() as http,
            http.post(gw.url + "/v1/chat/completions", headers=bearer(token)) as r,
        ):
            assert r.status == 200
            body = await asyncio.wait_for(r.read(), timeout=3)  # a proper end, no error
        server.close()
        relayed = b"".join(sent)
        assert body.startswith(relayed)
        assert body[len(relayed) :].startswith(ending)
        assert body.endswith(b"data: [DONE]\n\n") and body.count(b"[DONE]") == 1
        if ending:
            assert b'"code":"stream_interrupted"' in body  # the llm-proxy's own words
