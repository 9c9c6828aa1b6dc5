"""The gateway's parts, built once at start-up and closed at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

from tollgate.gateway.admission import Admission
from tollgate.gateway.apikeys import ApiKeyCache
from tollgate.gateway.config import PUBLIC_ROUTES, ROUTES, Service, Settings
from tollgate.gateway.edge import Cors
from tollgate.gateway.events import EventConsumer
from tollgate.gateway.identity import Authenticator, Caller
from tollgate.gateway.openapi import OpenAPIMerger
from tollgate.gateway.proxy import Upstreams
from tollgate.gateway.revocations import LocalDenylist, PlanLimitStore, RevocationStore
from tollgate.gateway.routing import RouteTable
from tollgate.gateway.script_channel import ScriptChannel
from tollgate.shared.messaging.broker import Broker
from tollgate.shared.security import JWKSVerifier
from tollgate.shared.service_tokens import ServiceTokenClient
from tollgate.shared.telemetry import setup_tracing
from tollgate.shared.verified_tokens import VerifiedTokens

__all__ = ["GATEWAY", "Gateway", "build_gateway", "close_gateway"]

INTROSPECT_PATH = "/internal/api-keys/introspect"
SERVICES: tuple[Service, ...] = ("auth", "billing", "usage", "llm-proxy")


@dataclass
class Gateway:
    """Everything a request needs, built in the app's startup and closed at shutdown."""

    settings: Settings
    routes: RouteTable
    cors: Cors
    upstreams: Upstreams
    internal_http: aiohttp.ClientSession
    redis: Redis
    verifier: JWKSVerifier
    service_tokens: ServiceTokenClient
    api_keys: ApiKeyCache
    authenticator: Authenticator
    denylist: LocalDenylist
    admission: Admission
    revocations: RevocationStore
    plans: PlanLimitStore
    broker: Broker
    consumer: EventConsumer
    openapi: OpenAPIMerger
    tracing: bool = False
    background: list[asyncio.Task[None]] = field(default_factory=list)

    async def introspect(self, key: str) -> dict[str, object]:
        for attempt in (1, 2):
            token = await self.service_tokens.token()
            async with self.internal_http.post(
                self.settings.auth_internal_url.rstrip("/") + INTROSPECT_PATH,
                json={"key": key},
                headers={"Authorization": f"Bearer {token}"},
                timeout=aiohttp.ClientTimeout(total=3),
            ) as response:
                if response.status == 401 and attempt == 1:
                    # Auth no longer takes our token (its keys rotated, it restarted): renew.
                    self.service_tokens.forget(token)
                    continue
                response.raise_for_status()
                body: dict[str, object] = await response.json()
                return body
        raise RuntimeError("unreachable")


GATEWAY = web.AppKey("gateway", Gateway)


def build_gateway(settings: Settings) -> Gateway:
    """Every part wired together; nothing connects yet (the app's start-up does that)."""
    # Spans cost tens of microseconds each: only make them when they go somewhere.
    tracing = bool(settings.otlp_endpoint)
    if tracing:
        setup_tracing("gateway", settings.otlp_endpoint)
    routes = RouteTable(ROUTES, PUBLIC_ROUTES)
    redis = Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout,
        socket_connect_timeout=settings.redis_timeout,
    )
    internal_http = aiohttp.ClientSession()
    verifier = JWKSVerifier(
        settings.jwks_url, issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    service_tokens = ServiceTokenClient(
        settings.auth_internal_url,
        settings.client_id,
        settings.client_secret.get_secret_value(),
    )
    api_keys = ApiKeyCache(settings.api_key_cache_seconds, settings.api_key_negative_cache_seconds)
    denylist = LocalDenylist()
    revocations = RevocationStore(redis, denylist, settings.revocation_ttl_seconds)
    plans = PlanLimitStore(redis)
    broker = Broker(settings.amqp_url)
    gw: Gateway

    async def introspect(key: str) -> dict[str, object]:
        return await gw.introspect(key)

    gw = Gateway(
        settings=settings,
        routes=routes,
        cors=Cors(settings.cors_origins, settings.cors_allow_credentials),
        upstreams=Upstreams(settings),
        internal_http=internal_http,
        redis=redis,
        verifier=verifier,
        service_tokens=service_tokens,
        api_keys=api_keys,
        authenticator=Authenticator(
            VerifiedTokens(verifier, Caller.from_principal, capacity=settings.token_cache_size),
            api_keys,
            introspect=introspect,
        ),
        denylist=denylist,
        admission=Admission(
            ScriptChannel(settings.redis_url, settings.redis_timeout),
            denylist,
            auth_limit_per_ip=settings.auth_requests_per_minute_per_ip,
            retry_seconds=settings.redis_retry_seconds,
        ),
        revocations=revocations,
        plans=plans,
        broker=broker,
        consumer=EventConsumer(broker, revocations, plans, api_keys),
        openapi=OpenAPIMerger(
            {s: settings.upstream_url(s) for s in SERVICES},
            routes,
            settings.openapi_cache_seconds,
            internal_http,
        ),
        tracing=tracing,
    )
    return gw


async def close_gateway(gw: Gateway) -> None:
    """Stop the background work, then close every connection the parts hold."""
    for task in gw.background:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await gw.consumer.stop()
    await gw.broker.close()
    await gw.upstreams.close()
    await gw.internal_http.close()
    await gw.service_tokens.close()
    await gw.verifier.close()
    await gw.admission.redis.close()
    await gw.redis.aclose()
