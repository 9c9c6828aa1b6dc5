"""Stand-ins on loopback for what the proxy talks to but we do not own here.

``FakeProvider`` speaks OpenAI's chat/completions/embeddings and Anthropic's
Messages API, streamed or not. What it does is steered by directives written in
the prompt, so concurrent calls can each ask for their own behaviour:

    [[words:N]]        answer N one-token words (default 6, capped by max_tokens)
    [[fail:NAME:CODE]] the provider called NAME answers HTTP CODE
    [[firstbreak:NAME]] NAME answers 200 then closes before any event
    [[drop:K]]         stream: cut the connection after K words (no usage, no [DONE])
    [[errorevent:K]]   stream: after K words send an in-band error and end
    [[stall:K]]        stream: after K words go quiet for ``stall_seconds``
    [[nousage]]        report no usage at all
    [[prompt:N]]       report N prompt tokens
    [[delay:MS]]       wait MS between stream events
    [[sleep:NAME:MS]]  the provider called NAME waits MS before answering at all
    [[acct:ID]]        tally what was produced under ID

Each provider keeps a tally of the tokens it produced (prompt + words sent),
which is what the upstream would bill us: the ledger tests compare against it.

``FakeUsage`` is the usage service's reservation contract with an in-memory
ledger, plus a consumer of ``usage.recorded`` from RabbitMQ that settles holds,
and auth's service-token endpoint.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import jwt
import orjson
from aiohttp import web

from tollgate.llm_proxy.metering.tokens import counter_for
from tollgate.shared.messaging.broker import EXCHANGE
from tollgate.shared.testing import SigningKey, free_port

WORDS = [" the", " cat", " dog", " sat", " on", " mat", " and", " ran", " far", " away"]
DIRECTIVE = re.compile(r"\[\[(\w+)(?::([^\]]*))?\]\]")


def directives(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) or "" for m in DIRECTIVE.finditer(text)}


def _text_of(body: dict[str, Any]) -> str:
    if "messages" in body:
        parts = []
        for m in body["messages"]:
            content = m.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
        return " ".join(parts) + " " + str(body.get("system", ""))
    prompt = body.get("prompt", body.get("input", ""))
    return prompt if isinstance(prompt, str) else " ".join(map(str, prompt))


@dataclass
class Produced:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class FakeProvider:
    name: str
    latency: float = 0.0  # before the status line
    stall_seconds: float = 2.0
    calls: int = 0
    produced: dict[str, Produced] = field(default_factory=lambda: defaultdict(Produced))
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.openai)
        app.router.add_post("/v1/completions", self.openai)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_post("/v1/messages", self.anthropic)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def reset(self) -> None:
        self.calls = 0
        self.produced.clear()
        self.requests.clear()

    # -- common ---------------------------------------------------------------

    async def _begin(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, str]] | web.Response:
        body = await request.json()
        self.calls += 1
        self.requests.append(body)
        d = directives(_text_of(body))
        if self.latency:
            await asyncio.sleep(self.latency)
        name, _, pause = d.get("sleep", "").partition(":")
        if name == self.name:
            await asyncio.sleep(int(pause) / 1000)
        fail = d.get("fail", "")
        for item in filter(None, fail.split(",")):
            name, _, code = item.partition(":")
            if name == self.name:
                status = int(code)
                headers = {"Retry-After": "1"} if status == 429 else {}
                return web.json_response(
                    {"error": {"message": f"{self.name} says {status}", "type": "server_error"}},
                    status=status,
                    headers=headers,
                )
        return body, d

    def _words(self, body: dict[str, Any], d: dict[str, str]) -> list[str]:
        wanted = int(d.get("words") or 6)
        cap = body.get("max_tokens") or body.get("max_completion_tokens") or wanted
        return [WORDS[i % len(WORDS)] for i in range(min(wanted, int(cap)))]

    def _tally(
        self, d: dict[str, str], prompt: int = 0, completion: int = 0, call: bool = False
    ) -> None:
        entry = self.produced[d.get("acct", "")]
        entry.prompt_tokens += prompt
        entry.completion_tokens += completion
        entry.calls += int(call)

    async def _sse(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        return response

    # -- OpenAI -----------------------------------------------------------------

    async def openai(self, request: web.Request) -> web.StreamResponse:
        begun = await self._begin(request)
        if isinstance(begun, web.Response):
            return begun
        body, d = begun
        chat = "messages" in body
        if "prompt" in d:
            prompt = int(d["prompt"])
        elif chat:
            prompt = counter_for("o200k_base").count_messages(body["messages"], body.get("tools"))
        else:
            prompt = counter_for("o200k_base").count(_text_of(body))
        words = self._words(body, d)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": len(words),
            "total_tokens": prompt + len(words),
        }
        if not body.get("stream"):
            self._tally(d, prompt, len(words), call=True)
            if chat:
                choice: dict[str, Any] = {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(words)},
                    "finish_reason": "stop",
                }
            else:
                choice = {"index": 0, "text": "".join(words), "finish_reason": "stop"}
            reply: dict[str, Any] = {
                "id": f"cmpl-{uuid.uuid4().hex}",
                "object": "chat.completion" if chat else "text_completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [choice],
            }
            if "nousage" not in d:
                reply["usage"] = usage
            return web.json_response(reply)
        return await self._openai_stream(request, body, d, chat, prompt, words, usage)

    async def _openai_stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        d: dict[str, str],
        chat: bool,
        prompt: int,
        words: list[str],
        usage: dict[str, int],
    ) -> web.StreamResponse:
        response = await self._sse(request)
        if d.get("firstbreak") == self.name:
            assert request.transport is not None
            request.transport.close()
            return response
        self._tally(d, prompt, 0, call=True)
        delay = int(d.get("delay") or 0) / 1000
        cid = f"chatcmpl-{uuid.uuid4().hex}"
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(
            delta: dict[str, Any] | None, text: str | None = None, finish: str | None = None
        ) -> bytes:
            choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
            if chat:
                choice["delta"] = delta or {}
            else:
                choice["text"] = text or ""
            payload = {
                "id": cid,
                "object": "chat.completion.chunk" if chat else "text_completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [choice],
            }
            return b"data: " + orjson.dumps(payload) + b"\n\n"

        if chat:
            await response.write(chunk({"role": "assistant", "content": ""}))
        for i, word in enumerate(words):
            if "drop" in d and i == int(d["drop"]):
                assert request.transport is not None
                request.transport.close()
                return response
            if "errorevent" in d and i == int(d["errorevent"]):
                await response.write(b'data: {"error": {"message": "upstream overloaded"}}\n\n')
                await response.write_eof()
                return response
            if "stall" in d and i == int(d["stall"]):
                await asyncio.sleep(self.stall_seconds)
                return response
            if delay:
                await asyncio.sleep(delay)
            await response.write(chunk({"content": word}, word))
            self._tally(d, 0, 1)
        await response.write(chunk({}, "", "stop"))
        if include_usage and "nousage" not in d:
            payload = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [],
                "usage": usage,
            }
            await response.write(b"data: " + orjson.dumps(payload) + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        begun = await self._begin(request)
        if isinstance(begun, web.Response):
            return begun
        body, d = begun
        items = body["input"] if isinstance(body["input"], list) else [body["input"]]
        prompt = sum(counter_for("cl100k_base").count(str(i)) for i in items)
        self._tally(d, prompt, 0, call=True)
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}
                    for i in range(len(items))
                ],
                "model": body["model"],
                "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
            }
        )

    # -- Anthropic -------------------------------------------------------------

    async def anthropic(self, request: web.Request) -> web.StreamResponse:
        begun = await self._begin(request)
        if isinstance(begun, web.Response):
            return begun
        body, d = begun
        assert request.headers.get("anthropic-version"), "Anthropic needs its version header"
        assert isinstance(body.get("max_tokens"), int), "Anthropic needs max_tokens"
        # Anthropic counts with its own tokenizer; ours cannot predict it exactly.
        prompt = int(d["prompt"]) if "prompt" in d else 7 + len(_text_of(body).split())
        words = self._words(body, d)
        message_id = f"msg_{uuid.uuid4().hex}"
        if not body.get("stream"):
            self._tally(d, prompt, len(words), call=True)
            return web.json_response(
                {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": body["model"],
                    "content": [{"type": "text", "text": "".join(words)}],
                    "stop_reason": "end_turn",
                    "usage": {"input_tokens": prompt, "output_tokens": len(words)},
                }
            )
        response = await self._sse(request)
        self._tally(d, prompt, 0, call=True)
        delay = int(d.get("delay") or 0) / 1000

        async def event(name: str, payload: dict[str, Any]) -> None:
            await response.write(
                f"event: {name}\n".encode()
                + b"data: "
                + orjson.dumps({"type": name, **payload})
                + b"\n\n"
            )

        await event(
            "message_start",
            {
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": body["model"],
                    "usage": {"input_tokens": prompt, "output_tokens": 1},
                }
            },
        )
        await event(
            "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
        )
        await response.write(b'event: ping\ndata: {"type": "ping"}\n\n')
        for i, word in enumerate(words):
            if "drop" in d and i == int(d["drop"]):
                assert request.transport is not None
                request.transport.close()
                return response
            if "errorevent" in d and i == int(d["errorevent"]):
                await event(
                    "error", {"error": {"type": "overloaded_error", "message": "Overloaded"}}
                )
                await response.write_eof()
                return response
            if delay:
                await asyncio.sleep(delay)
            await event(
                "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": word}}
            )
            self._tally(d, 0, 1)
        await event("content_block_stop", {"index": 0})
        await event(
            "message_delta",
            {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": len(words)}},
        )
        await event("message_stop", {})
        await response.write_eof()
        return response


@dataclass
class HoldEntry:
    reservation_id: str
    account: str
    held: int
    settled: str | None = None  # committed | released
    committed_tokens: int = 0


@dataclass
class FakeUsage:
    """Usage's reservation contract, kept in memory, settled by ``usage.recorded`` events."""

    key: SigningKey
    amqp_url: str
    default_completion_cap: int = 4096
    balances: dict[str, int] = field(default_factory=dict)
    holds: dict[str, HoldEntry] = field(default_factory=dict)
    by_request: dict[str, str] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)
    reservation_calls: int = 0
    url: str = ""
    _runner: web.AppRunner | None = None
    _connection: aio_pika.abc.AbstractRobustConnection | None = None
    _seen: set[str] = field(default_factory=set)

    def fund(self, account: uuid.UUID | str, tokens: int) -> None:
        self.balances[str(account)] = tokens

    def committed(self, account: uuid.UUID | str) -> int:
        return sum(h.committed_tokens for h in self.holds.values() if h.account == str(account))

    def open_holds(self) -> list[HoldEntry]:
        return [h for h in self.holds.values() if h.settled is None]

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/internal/service-token", self.service_token)
        app.router.add_post("/internal/reservations", self.reserve)
        app.router.add_post("/internal/reservations/{id}/release", self.release)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        self._connection = await aio_pika.connect_robust(self.amqp_url)
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            "llm-proxy-tests.usage-standin", durable=False, auto_delete=True
        )
        await queue.purge()
        await queue.bind(exchange, "usage.recorded")
        await queue.consume(self.on_usage_recorded)
        return self.url

    async def stop(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _claims(self, token: str, typ: str) -> dict[str, Any]:
        claims = jwt.decode(
            token, self.key.private.public_key(), algorithms=["EdDSA"], audience="tollgate"
        )
        assert claims["typ"] == typ, f"expected a {typ} token"
        return claims

    async def service_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client = form.get("client_id")
        if form.get("grant_type") != "client_credentials" or client not in ("llm-proxy", "gateway"):
            return web.json_response({"error": "invalid_client"}, status=401)
        token = self.key.mint(f"service:{client}", typ="service", role="user")
        return web.json_response({"access_token": token, "token_type": "bearer", "expires_in": 900})

    def _authorise(self, request: web.Request) -> dict[str, Any]:
        self._claims(request.headers["Authorization"].removeprefix("Bearer "), "service")
        return self._claims(request.headers["X-User-Token"], "access")

    async def reserve(self, request: web.Request) -> web.Response:
        self.reservation_calls += 1
        try:
            user = self._authorise(request)
        except Exception:
            return web.json_response({"title": "unauthorized"}, status=401)
        body = await request.json()
        assert isinstance(body["prompt_tokens"], int) and body["prompt_tokens"] >= 0
        existing = self.by_request.get(body["request_id"])
        account = str(user.get("org") or user["sub"])
        available = self.balances.get(account, 0)
        if existing is not None:
            hold = self.holds[existing]
            return web.json_response(self._hold_body(hold, None, available), status=201)
        prompt = body["prompt_tokens"]
        cap = body.get("max_completion_tokens")
        if cap is None:
            cap = min(available - prompt, self.default_completion_cap)
        need = prompt + cap
        if cap < 0 or need > available or (body.get("max_completion_tokens") is None and cap < 1):
            return web.json_response(
                {
                    "type": "https://tollgate.dev/problems/insufficient-quota",
                    "title": "Not enough tokens",
                    "status": 402,
                    "available": available,
                },
                status=402,
                content_type="application/problem+json",
            )
        self.balances[account] = available - need
        hold = HoldEntry(str(uuid.uuid4()), account, need)
        self.holds[hold.reservation_id] = hold
        self.by_request[body["request_id"]] = hold.reservation_id
        return web.json_response(self._hold_body(hold, cap, self.balances[account]), status=201)

    @staticmethod
    def _hold_body(hold: HoldEntry, cap: int | None, available: int) -> dict[str, Any]:
        return {
            "reservation_id": hold.reservation_id,
            "account_id": hold.account,
            "held_tokens": hold.held,
            "max_completion_tokens": cap,
            "available": available,
            "expires_at": "2099-01-01T00:00:00Z",
        }

    async def release(self, request: web.Request) -> web.Response:
        self._authorise(request)
        hold = self.holds.get(request.match_info["id"])
        if hold is None:
            return web.json_response({"title": "not found"}, status=404)
        if hold.settled is None:
            hold.settled = "released"
            self.balances[hold.account] += hold.held
        return web.json_response({"status": hold.settled})

    async def on_usage_recorded(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            envelope = orjson.loads(message.body)
            if envelope["id"] in self._seen:
                return
            self._seen.add(envelope["id"])
            data = envelope["data"]
            self.events.append(data)
            hold = self.holds.get(str(data["reservation_id"]))
            if hold is None:
                self.anomalies.append(f"event for unknown hold {data['reservation_id']}")
                return
            if hold.settled == "committed":
                self.anomalies.append(f"hold {hold.reservation_id} settled twice")
                return
            if hold.settled == "released":
                if data["total_tokens"]:
                    self.anomalies.append(f"tokens recorded on released hold {hold.reservation_id}")
                return
            hold.settled = "committed"
            hold.committed_tokens = data["total_tokens"]
            self.balances[hold.account] += hold.held - data["total_tokens"]

    async def events_of(
        self, user_id: uuid.UUID, count: int = 1, timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        """Wait for ``count`` usage events of one user (and give a moment for strays)."""
        deadline = time.monotonic() + timeout
        while True:
            mine = [e for e in self.events if e["user_id"] == str(user_id)]
            if len(mine) >= count:
                await asyncio.sleep(0.05)
                return [e for e in self.events if e["user_id"] == str(user_id)]
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(mine)} of {count} usage events arrived")
            await asyncio.sleep(0.02)

    async def settled(self, count: int, timeout: float = 15.0) -> None:
        """Wait until ``count`` usage events have arrived in total."""
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.events)} of {count} usage events arrived")
            await asyncio.sleep(0.02)
