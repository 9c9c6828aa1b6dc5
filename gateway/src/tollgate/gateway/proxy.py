"""Forwarding a request to its service and the answer back, streamed as it arrives.

One pooled aiohttp ClientSession per service. Bodies of small, complete answers are
relayed in one write; anything else (server-sent events, chunked bodies, large
files) is written chunk by chunk as the service produces it, never buffered whole.
If the client goes away, aiohttp cancels the handler and the upstream connection is
closed with it, which the service sees as a disconnect.

Idempotent methods are retried when the connection failed; any method is retried
once when it failed on a pooled connection the service had already closed (the
request never reached it: the service closes idle connections, or one after an
error, and the pool may hand it out in the moment before it learns). A timeout is
never retried (it would double the wait).

A service's redirect to its own address (FastAPI's trailing-slash 307, for one) is
made relative before it leaves: internal addresses never reach the outside.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from types import SimpleNamespace
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from tollgate.gateway.config import Service, Settings
from tollgate.gateway.errors import BadGateway, GatewayTimeout
from tollgate.gateway.metrics import UPSTREAM_ERRORS
from tollgate.shared.openai_errors import stream_interrupted_error

__all__ = ["HOP_BY_HOP", "Upstreams", "response_headers"]

log = logging.getLogger("tollgate.gateway.proxy")

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Request headers the gateway sets itself (credentials are replaced by the verified JWT).
_REPLACED_ON_REQUEST = HOP_BY_HOP | {
    "host",
    "content-length",
    "expect",  # answered at the edge; the body is already read when we forward
    "authorization",
    "x-api-key",
    "x-request-id",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "forwarded",
    "traceparent",
    "tracestate",
}
_DROPPED_ON_RESPONSE = HOP_BY_HOP | {"content-length", "server", "date"}
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
SMALL_BODY = 256 * 1024
SSE_DONE = b"data: [DONE]\n\n"
# Failures where the request did not (fully) reach a service; safe to repeat if idempotent.
_RETRYABLE = (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)


class _Attempt:
    """One try of a request; the client's trace hook marks a connection from the pool."""

    __slots__ = ("reused",)

    def __init__(self) -> None:
        self.reused = False


async def _on_reused(
    _session: aiohttp.ClientSession, context: SimpleNamespace, _params: object
) -> None:
    attempt = context.trace_request_ctx
    if isinstance(attempt, _Attempt):
        attempt.reused = True


def _pool_tracing() -> aiohttp.TraceConfig:
    tracing = aiohttp.TraceConfig()
    tracing.on_connection_reuseconn.append(_on_reused)
    tracing.freeze()
    return tracing


def _connection_listed(headers: Mapping[str, str]) -> set[str]:
    value = headers.get("connection")
    return {h.strip().lower() for h in value.split(",")} if value else set()


def request_headers(incoming: CIMultiDictProxy[str], extra: Mapping[str, str]) -> CIMultiDict[str]:
    listed = _connection_listed(incoming)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in incoming.items():
        lower = name.lower()
        if lower in _REPLACED_ON_REQUEST or lower in listed:
            continue
        out.add(name, value)
    out.update(extra)
    return out


def response_headers(
    upstream: Mapping[str, str], internal_origins: frozenset[str] = frozenset()
) -> CIMultiDict[str]:
    listed = _connection_listed(upstream)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in upstream.items():
        lower = name.lower()
        if lower in _DROPPED_ON_RESPONSE or lower in listed:
            continue
        if lower in ("location", "content-location"):
            value = _outside_location(value, internal_origins)
        out.add(name, value)
    return out


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _outside_location(value: str, internal_origins: frozenset[str]) -> str:
    """A redirect to a service's own address, made relative (the gateway's address);
    any other (an OAuth provider's page, the web app) is left as it is."""
    if "://" not in value[:12]:
        return value
    parts = urlsplit(value)
    if f"{parts.scheme}://{parts.netloc}".lower() not in internal_origins:
        return value
    relative = parts.path or "/"
    return f"{relative}?{parts.query}" if parts.query else relative


class Upstreams:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._sessions: dict[Service, aiohttp.ClientSession] = {}
        self._internal_origins = frozenset(
            _origin(settings.upstream_url(s)) for s in ("auth", "billing", "usage", "llm-proxy")
        )
        self._tracing = _pool_tracing()
        self._timeouts = {
            "general": aiohttp.ClientTimeout(
                sock_connect=settings.connect_timeout, sock_read=settings.read_timeout
            ),
            "llm": aiohttp.ClientTimeout(
                sock_connect=settings.connect_timeout, sock_read=settings.llm_read_timeout
            ),
        }

    def session(self, service: Service) -> aiohttp.ClientSession:
        session = self._sessions.get(service)
        if session is None:
            connector = aiohttp.TCPConnector(
                limit=self.settings.upstream_pool_size,
                keepalive_timeout=30,
                ttl_dns_cache=300,
            )
            session = aiohttp.ClientSession(
                base_url=self.settings.upstream_url(service),
                connector=connector,
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
                cookie_jar=aiohttp.DummyCookieJar(),
                trace_configs=[self._tracing],
            )
            self._sessions[service] = session
        return session

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()

    async def forward(
        self,
        request: web.Request,
        service: Service,
        route_class: str,
        target: str,
        headers: CIMultiDict[str],
        body: bytes | None,
    ) -> web.StreamResponse:
        """Send the request to ``target`` (its normalised path and query) at ``service``."""
        session = self.session(service)
        timeout = self._timeouts["llm" if route_class == "llm" else "general"]
        idempotent = request.method in IDEMPOTENT
        retries = self.settings.idempotent_retries if idempotent else 0
        stale_retried = False
        upstream: aiohttp.ClientResponse | None = None
        attempt = 0
        while upstream is None:
            tried = _Attempt()
            try:
                upstream = await session.request(
                    request.method,
                    target,
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                    timeout=timeout,
                    trace_request_ctx=tried,
                )
            except _RETRYABLE as exc:
                if tried.reused and not stale_retried:
                    # A pooled connection the service had closed: the request never
                    # reached it, whatever the method; once, on a fresh connection.
                    stale_retried = True
                    continue
                attempt += 1
                if attempt <= retries:
                    await asyncio.sleep(0.05 * attempt)
                    continue
                UPSTREAM_ERRORS.labels(service, "unreachable").inc()
                log.warning("%s unreachable: %s", service, exc)
                raise BadGateway(f"The {service} service cannot be reached") from exc
            except TimeoutError as exc:
                UPSTREAM_ERRORS.labels(service, "timeout").inc()
                raise GatewayTimeout(f"The {service} service did not answer in time") from exc
            except aiohttp.ClientError as exc:
                UPSTREAM_ERRORS.labels(service, "protocol").inc()
                log.warning("%s answered badly: %s", service, exc)
                raise BadGateway(f"The {service} service gave an invalid answer") from exc
        assert upstream is not None
        try:
            return await self._relay(request, service, upstream)
        finally:
            # An answer not read to the end (client gone, stream broken) must not go
            # back to the pool: closing it tells the service the caller has left.
            if upstream.content.at_eof():
                upstream.release()
            else:
                upstream.close()

    async def _relay(
        self, request: web.Request, service: str, upstream: aiohttp.ClientResponse
    ) -> web.StreamResponse:
        headers = response_headers(upstream.headers, self._internal_origins)
        length = upstream.content_length
        if request.method == "HEAD":
            # No body, but the length the service announced for GET stays true.
            head = web.StreamResponse(status=upstream.status, headers=headers)
            if length is not None:
                head.content_length = length
            await head.prepare(request)
            await head.write_eof()
            return head
        streaming = upstream.headers.get("content-type", "").startswith("text/event-stream")
        if length is not None and length <= SMALL_BODY and not streaming:
            try:
                payload = await upstream.read()
            except TimeoutError as exc:
                UPSTREAM_ERRORS.labels(service, "timeout").inc()
                raise GatewayTimeout(f"The {service} service did not answer in time") from exc
            except aiohttp.ClientError as exc:
                UPSTREAM_ERRORS.labels(service, "protocol").inc()
                raise BadGateway(f"The {service} service broke off its answer") from exc
            return web.Response(status=upstream.status, headers=headers, body=payload)
        response = web.StreamResponse(status=upstream.status, headers=headers)
        if length is not None:
            response.content_length = length
        await response.prepare(request)
        tail = b""  # the end of what was relayed: did an event stream already finish?
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
                tail = (tail + chunk)[-len(SSE_DONE) :]
        except ConnectionResetError:
            return response  # the client left; closing the upstream tells the service
        except (TimeoutError, aiohttp.ClientError) as exc:
            UPSTREAM_ERRORS.labels(service, "stream-broken").inc()
            log.warning("%s stream broke off: %s", service, exc)
            upstream.close()
            if streaming:
                await _end_broken_event_stream(response, tail, service)
            elif request.transport is not None:
                # Headers are gone already: the only honest signal left is a cut connection.
                request.transport.close()
            return response
        await response.write_eof()
        return response


async def _end_broken_event_stream(response: web.StreamResponse, tail: bytes, service: str) -> None:
    """Say in-band that the answer was cut, then end the stream properly.

    The same signal the llm-proxy gives for a broken provider stream (an error event,
    then ``[DONE]``), so a client never takes a cut answer for a finished one. A stream
    that had already sent its ``[DONE]`` was complete and only ends."""
    ending = b""
    if not tail.endswith(SSE_DONE):
        error = stream_interrupted_error(f"The {service} service broke off its answer")
        lead = b"" if tail.endswith(b"\n\n") or not tail else b"\n\n"  # close a cut event
        ending = lead + b"data: " + error + b"\n\n" + SSE_DONE
    with contextlib.suppress(ConnectionResetError):  # the client may have left too
        if ending:
            await response.write(ending)
        await response.write_eof()
