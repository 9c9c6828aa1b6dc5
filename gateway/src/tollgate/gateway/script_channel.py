"""A lean, pipelined Redis connection for the one call on the hot path: EVALSHA.

redis-py spends tens of microseconds of Python per command (pool, locks, encoding);
at thousands of requests per second that is the biggest cost the gateway adds. This
channel keeps one connection, writes the calls of one loop turn in one system call,
and matches replies to callers in order (Redis answers a connection's commands in
sequence).
Replies are parsed by hiredis. Anything odd — a timeout, a dropped connection —
fails every waiting call and closes the connection; the next call reconnects.

The URL is read as redis-py reads it, so the gateway's two clients take one
``GATEWAY_REDIS_URL``: ``redis://`` in the clear, ``rediss://`` over TLS with the
server's certificate checked against the system's authorities, or against
``?ssl_ca_certs=/path/ca.pem``; ``ssl_cert_reqs=none`` turns the check off (a test
stand only). TLS costs the handshake once per connection, and then the record
layer's encryption of a few hundred bytes per call.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis

__all__ = ["RedisUnavailable", "ScriptChannel"]


class RedisUnavailable(ConnectionError):
    """Redis did not answer (in time)."""


def _frame(*parts: bytes | str | int) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        raw = part if isinstance(part, bytes) else str(part).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


class _Expired(RedisUnavailable):
    pass


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(_Expired())


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.outgoing: list[bytes] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            reply = self.reader.gets()
            if reply is False:
                return
            if not self.waiting:
                continue  # the caller gave up (timeout); its reply is dropped
            future = self.waiting.popleft()
            if not future.done():
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(RedisUnavailable(f"connection lost: {exc}"))

    def send(self, frame: bytes) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self.waiting.append(future)
        # Calls made in one turn of the loop leave in one write (one system call).
        if not self.outgoing:
            loop.call_soon(self._flush)
        self.outgoing.append(frame)
        return future

    def _flush(self) -> None:
        frames, self.outgoing = self.outgoing, []
        if self.transport is not None and not self.closed:
            self.transport.write(b"".join(frames))


def _tls_context(scheme: str, query: str) -> ssl.SSLContext | None:
    """The TLS a ``rediss://`` URL asks for (None for ``redis://``), as redis-py reads it."""
    if scheme == "redis":
        return None
    if scheme != "rediss":
        raise ValueError(f"Redis URL scheme must be redis:// or rediss://, not {scheme}://")
    options = {name: values[-1] for name, values in parse_qs(query).items()}
    context = ssl.create_default_context(cafile=options.get("ssl_ca_certs"))
    if options.get("ssl_cert_reqs", "required").lower() in ("none", "optional"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class ScriptChannel:
    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.tls = _tls_context(parts.scheme, parts.query)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 6379
        self.password = unquote(parts.password) if parts.password else None
        self.username = unquote(parts.username) if parts.username else None
        self.db = int(parts.path.strip("/") or 0)
        self.timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._shas: dict[str, bytes] = {}

    async def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None

    async def evalsha(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """Run a Lua script by its hash (loading it the first time); raises RedisUnavailable."""
        protocol = await self._connected()
        sha = self._shas.get(script)
        if sha is None:
            loaded = await self._call(protocol, _frame("SCRIPT", "LOAD", script))
            if not isinstance(loaded, bytes):
                raise RedisUnavailable(f"script not loaded: {loaded}")
            sha = self._shas[script] = loaded
        reply = await self._call(protocol, _frame("EVALSHA", sha, len(keys), *keys, *args))
        if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
            del self._shas[script]  # Redis restarted and forgot it
            return await self.evalsha(script, keys, args)
        if isinstance(reply, hiredis.ReplyError):
            raise RedisUnavailable(f"script failed: {reply}")
        return reply

    async def _call(self, protocol: _Protocol, frame: bytes) -> Any:
        future = protocol.send(frame)
        # call_later is far cheaper than wait_for on this path.
        timer = asyncio.get_running_loop().call_later(self.timeout, _expire, future)
        try:
            return await future
        except _Expired as exc:
            # Replies are matched by order: after a lost one, the connection is unusable.
            if protocol.transport is not None:
                protocol.transport.close()
            if self._protocol is protocol:
                self._protocol = None
            raise RedisUnavailable("Redis did not answer in time") from exc
        finally:
            timer.cancel()

    async def _connected(self) -> _Protocol:
        current = self._protocol
        if current is not None and not current.closed:
            return current
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is not None and not self._protocol.closed:
                return self._protocol
            loop = asyncio.get_running_loop()
            try:
                _, fresh = await asyncio.wait_for(
                    loop.create_connection(_Protocol, self.host, self.port, ssl=self.tls),
                    self.timeout,
                )
            except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
                raise RedisUnavailable(f"cannot connect: {exc}") from exc
            if self.password is not None:
                auth = (
                    ("AUTH", self.username, self.password)
                    if self.username
                    else ("AUTH", self.password)
                )
                await self._expect_ok(fresh, _frame(*auth))
            if self.db:
                await self._expect_ok(fresh, _frame("SELECT", self.db))
            self._protocol = fresh
            return fresh

    async def _expect_ok(self, protocol: _Protocol, frame: bytes) -> None:
        reply = await self._call(protocol, frame)
        if isinstance(reply, hiredis.ReplyError):
            if protocol.transport is not None:
                protocol.transport.close()
            raise RedisUnavailable(f"Redis refused the connection: {reply}")
