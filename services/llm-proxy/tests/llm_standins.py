"""Stand-ins for the proxy's tests: the provider (``tollgate.standins.llm``) and usage.

``FakeUsage`` is the usage service's reservation contract with an in-memory
ledger (leases and their shrinks included), plus a consumer of ``usage.recorded``
from RabbitMQ that settles holds, and auth's service-token endpoint.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import jwt
from aiohttp import web

from tollgate.shared.messaging.broker import EXCHANGE
from tollgate.shared.messaging.bundles import events_in
from tollgate.shared.testing import SigningKey, free_port
from tollgate.standins.llm import FakeProvider, Produced, directives

__all__ = ["FakeProvider", "FakeUsage", "Produced", "directives"]


@dataclass
class HoldEntry:
    reservation_id: str
    account: str
    held: int
    settled: str | None = None  # committed | released
    committed_tokens: int = 0
    user: str = ""
    cap: int | None = None  # the call's completion as sized, for a replay's answer
    # A lease: its answer's lease part, and what its shrinks left of it.
    lease: dict[str, Any] | None = None
    counted_tokens: int = 0  # for tokens per minute
    counted_calls: int = 0  # for the daily quota
    final: bool = False
    shrinks: list[dict[str, Any]] = field(default_factory=list)
    calls_settled: int = 0
    made_at: float = field(default_factory=time.monotonic)
    shrunk_at: list[float] = field(default_factory=list)


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
    headers_of: dict[str, dict[str, Any]] = field(default_factory=dict)  # AMQP, by request_id
    anomalies: list[str] = field(default_factory=list)
    reservation_calls: int = 0
    lease_asks: int = 0
    # False: a usage older than leases, refusing the unknown ``lease`` field (422).
    knows_leases: bool = True
    # Accounts whose reservations are made but never answered (the connection drops).
    lose_answers_for: set[str] = field(default_factory=set)
    # Callers usage refuses any hold, as it does a sub-user without the llm permission.
    refuse_holds_to: set[str] = field(default_factory=set)
    # Callers usage rate-limits: user id -> (problem slug, Retry-After seconds).
    rate_limited: dict[str, tuple[str, int]] = field(default_factory=dict)
    # Models usage has no price for: their reservations are refused (422).
    unpriced_models: set[str] = field(default_factory=set)
    # Callers usage answers 503, as it does while its database is away.
    unavailable_to: set[str] = field(default_factory=set)
    url: str = ""
    # While down, nothing listens and connections already open are dropped.
    down: bool = False
    _site: web.TCPSite | None = None
    _port: int = 0
    _settled_requests: set[str] = field(default_factory=set)
    _runner: web.AppRunner | None = None
    _connection: aio_pika.abc.AbstractRobustConnection | None = None
    _seen: set[str] = field(default_factory=set)
    _verified: dict[str, dict[str, Any]] = field(default_factory=dict)

    def fund(self, account: uuid.UUID | str, tokens: int) -> None:
        self.balances[str(account)] = tokens

    def committed(self, account: uuid.UUID | str) -> int:
        return sum(h.committed_tokens for h in self.holds.values() if h.account == str(account))

    def open_holds(self) -> list[HoldEntry]:
        return [h for h in self.holds.values() if h.settled is None]

    def leases_of(self, account: uuid.UUID | str) -> list[HoldEntry]:
        return [h for h in self.holds.values() if h.account == str(account) and h.lease]

    async def closed(self, account: uuid.UUID | str, timeout: float = 15.0) -> None:
        """Wait until every hold of the account is settled (its leases shrunk final)."""
        deadline = time.monotonic() + timeout
        while [h for h in self.open_holds() if h.account == str(account)]:
            if time.monotonic() > deadline:
                raise AssertionError(f"holds of {account} still open")
            await asyncio.sleep(0.02)

    async def go_down(self) -> None:
        assert self._site is not None
        self.down = True
        await self._site.stop()

    async def come_back(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await self._site.start()
        self.down = False

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/internal/service-token", self.service_token)
        app.router.add_post("/internal/reservations", self.reserve)
        app.router.add_post("/internal/reservations/{id}/release", self.release)
        app.router.add_post("/internal/reservations/{id}/shrink", self.shrink)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        self._port = free_port()
        self._site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await self._site.start()
        self.url = f"http://127.0.0.1:{self._port}"
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
        # Verified once, then kept until it expires, as usage itself does.
        claims = self._verified.get(token)
        if claims is None or claims["exp"] <= time.time():
            claims = jwt.decode(
                token, self.key.private.public_key(), algorithms=["EdDSA"], audience="tollgate"
            )
            self._verified[token] = claims
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
        if self.down:
            return self._lost_answer(request)
        self.reservation_calls += 1
        try:
            user = self._authorise(request)
        except Exception:
            return web.json_response({"title": "unauthorized"}, status=401)
        body = await request.json()
        assert isinstance(body["prompt_tokens"], int) and body["prompt_tokens"] >= 0
        if str(user["sub"]) in self.unavailable_to:
            return web.json_response({"title": "Service unavailable"}, status=503)
        if str(user["sub"]) in self.refuse_holds_to:
            return web.json_response(
                {
                    "type": "https://tollgate.dev/problems/llm-not-permitted",
                    "title": "Not allowed",
                    "status": 403,
                    "detail": "This sub-user may not call the LLM",
                },
                status=403,
                content_type="application/problem+json",
            )
        limited = self.rate_limited.get(str(user["sub"]))
        if limited is not None:
            slug, retry_after = limited
            return web.json_response(
                {
                    "type": f"https://tollgate.dev/problems/{slug}",
                    "title": "Too many requests",
                    "status": 429,
                    "detail": "Daily request quota of 200 reached",
                    "daily_requests": 200,
                },
                status=429,
                headers={"Retry-After": str(retry_after)},
                content_type="application/problem+json",
            )
        if body["model"] in self.unpriced_models:
            return web.json_response(
                {
                    "type": "https://tollgate.dev/problems/model-not-priced",
                    "title": "Invalid request",
                    "status": 422,
                    "model": body["model"],
                },
                status=422,
                content_type="application/problem+json",
            )
        existing = self.by_request.get(body["request_id"])
        account = str(user.get("org") or user["sub"])
        available = self.balances.get(account, 0)
        if existing is not None:
            hold = self.holds[existing]
            if account in self.lose_answers_for:
                return self._lost_answer(request)
            return web.json_response(self._hold_body(hold, hold.cap, available), status=201)
        ask = body.get("lease")
        if ask is not None and not self.knows_leases:
            return web.json_response(
                {
                    "type": "https://tollgate.dev/problems/validation-error",
                    "title": "Invalid request",
                    "status": 422,
                    "detail": "lease: Extra inputs are not permitted",
                },
                status=422,
                content_type="application/problem+json",
            )
        if ask is not None:
            self.lease_asks += 1
            assert set(ask) == {"credits", "tokens", "calls", "seconds"}, ask
            assert all(type(v) is int and v >= 0 for v in ask.values()), ask
            assert 1 <= ask["seconds"] <= 60 and ask["calls"] <= 10_000, ask
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
        hold = HoldEntry(str(uuid.uuid4()), account, need, user=str(user["sub"]), cap=cap)
        if ask is not None:
            # A lease takes at most half of what is left beside the call's own hold.
            extra = min(ask["credits"], (available - need) // 2)
            hold.held += extra
            hold.counted_tokens = prompt + cap + ask["tokens"]
            hold.counted_calls = 1 + ask["calls"]
            use_until = datetime.now(UTC) + timedelta(seconds=ask["seconds"])
            hold.lease = {
                "credits": hold.held,
                "tokens": hold.counted_tokens,
                "calls": hold.counted_calls,
                "use_until": use_until.isoformat(),
                "default_completion_tokens": self.default_completion_cap,
                "tokens_per_minute": None,
            }
        self.balances[account] = available - hold.held
        self.holds[hold.reservation_id] = hold
        self.by_request[body["request_id"]] = hold.reservation_id
        if account in self.lose_answers_for:
            return self._lost_answer(request)
        return web.json_response(self._hold_body(hold, cap, self.balances[account]), status=201)

    @staticmethod
    def _lost_answer(request: web.Request) -> web.Response:
        """The hold is made, but the caller never hears of it: the connection just drops."""
        assert request.transport is not None
        request.transport.abort()
        return web.Response(status=201)

    @staticmethod
    def _hold_body(hold: HoldEntry, cap: int | None, available: int) -> dict[str, Any]:
        return {
            "lease": hold.lease,
            "reservation_id": hold.reservation_id,
            "account_id": hold.account,
            "held_tokens": hold.held,
            "max_completion_tokens": cap,
            "available": available,
            "expires_at": "2099-01-01T00:00:00Z",
            # The stand-in sells every model at the reference price: a credit a token.
            "input_per_million": 1_000_000,
            "output_per_million": 1_000_000,
            "unit": "credits",
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

    async def shrink(self, request: web.Request) -> web.Response:
        """What the proxy may still spend through a lease: only ever lowers it."""
        if self.down:
            return self._lost_answer(request)
        user = self._authorise(request)
        hold = self.holds.get(request.match_info["id"])
        if hold is None:
            return web.json_response({"title": "not found"}, status=404)
        if hold.lease is None or hold.user != str(user["sub"]):
            return web.json_response({"title": "not a lease of this user"}, status=409)
        body = await request.json()
        assert set(body) == {"credits", "tokens", "calls", "final"}, body
        assert type(body["final"]) is bool, body
        assert all(type(body[k]) is int and body[k] >= 0 for k in ("credits", "tokens", "calls"))
        hold.shrinks.append(body)
        hold.shrunk_at.append(time.monotonic())
        if hold.settled is None:
            kept = min(hold.held, max(0, body["credits"] - hold.committed_tokens))
            self.balances[hold.account] += hold.held - kept
            hold.held = kept
            hold.counted_tokens = min(hold.counted_tokens, body["tokens"])
            hold.counted_calls = min(hold.counted_calls, body["calls"])
            hold.final = hold.final or body["final"]
            if hold.final and hold.held == 0:
                hold.settled = "committed"
        return web.json_response(
            {
                "reservation_id": hold.reservation_id,
                "status": hold.settled or "held",
                "available": self.balances[hold.account],
            }
        )

    def _settle_leased(self, hold: HoldEntry, data: dict[str, Any]) -> None:
        """A call of a lease draws its cost from what the lease still holds; the lease stays."""
        if data["request_id"] in self._settled_requests:
            self.anomalies.append(f"call {data['request_id']} settled twice")
            return
        self._settled_requests.add(data["request_id"])
        cost = data["total_tokens"]
        if hold.settled is not None:
            if cost:
                self.anomalies.append(f"tokens recorded on closed lease {hold.reservation_id}")
            return
        drawn = min(cost, hold.held)
        if drawn < cost:
            self.anomalies.append(f"a call of lease {hold.reservation_id} cost more than it held")
        hold.held -= drawn
        hold.committed_tokens += drawn
        hold.calls_settled += 1
        if hold.final and hold.held == 0:
            hold.settled = "committed"

    async def on_usage_recorded(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            # The proxy's relay sends these as bundles, many events to a message.
            for item in events_in(message):
                self._on_usage_recorded(str(item.event.id), item.event.data, item.headers)

    def _on_usage_recorded(
        self, event_id: str, data: dict[str, Any], headers: dict[str, Any]
    ) -> None:
        if event_id in self._seen:
            return
        self._seen.add(event_id)
        self.events.append(data)
        self.headers_of[data["request_id"]] = headers
        if data["reservation_id"] is None:
            # The proxy never learnt the reservation: settle whatever this request held.
            held = self.by_request.get(data["request_id"])
            if held is None:
                return  # nothing was held
            if data["total_tokens"]:
                self.anomalies.append(f"tokens recorded without a hold for {held}")
                return
            hold = self.holds[held]
        else:
            found = self.holds.get(str(data["reservation_id"]))
            if found is None:
                self.anomalies.append(f"event for unknown hold {data['reservation_id']}")
                return
            hold = found
        if hold.lease is not None:
            self._settle_leased(hold, data)
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
