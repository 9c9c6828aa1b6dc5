"""The LLM proxy's FastAPI app: OpenAI-compatible routes under ``/v1`` and ``/api/llm``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import aiohttp
import asyncpg
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tollgate.llm_proxy.catalog.endpoints import router as catalog_router
from tollgate.llm_proxy.catalog.service import Catalog, load_catalog
from tollgate.llm_proxy.completions.endpoints import OPENAI_PREFIXES, ROUTES
from tollgate.llm_proxy.completions.service import CompletionService
from tollgate.llm_proxy.config import Settings
from tollgate.llm_proxy.direct_routes import openai_error
from tollgate.llm_proxy.errors import RefillLinks, install_openai_errors
from tollgate.llm_proxy.metering.leases import LeaseBook
from tollgate.llm_proxy.metering.reservations import ReservationClient
from tollgate.llm_proxy.metering.tokens import counter_for
from tollgate.llm_proxy.models import messaging, price_list
from tollgate.llm_proxy.openapi import amend_document
from tollgate.llm_proxy.plans.service import PlanRefresher, apply_plan_updated
from tollgate.llm_proxy.request_log.service import CallRecorder, erase_user_requests
from tollgate.llm_proxy.upstream.health import DeploymentHealth
from tollgate.llm_proxy.upstream.pool import UpstreamPool
from tollgate.shared.messaging import Envelope, Subscription
from tollgate.shared.messaging.events import ModelPricesChanged, UsageRecorded
from tollgate.shared.model_prices import price_list_subscription
from tollgate.shared.runtime import ServiceRuntime
from tollgate.shared.service_tokens import ServiceTokenClient
from tollgate.shared.web import create_service_app

__all__ = ["create_app"]

USER_DELETED_QUEUE = "llm-proxy.user-deleted"
PLANS_QUEUE = "llm-proxy.plans"
MODEL_PRICES_QUEUE = "llm-proxy.model-prices"
# How long shutdown waits for running streams to finish and be recorded.
SHUTDOWN_GRACE_SECONDS = 15.0
# Longest a committed usage event waits before the relay is woken to send it. Each
# relay pass, and usage's transaction for the bundle it sends, has a fixed cost: at
# 150 ms a bundle carries three times the calls it did at 50 ms, which took usage's and
# PostgreSQL's CPU per call down by a fifth at 50 clients and by half at one (bench/llm).
RELAY_WAKE_DELAY = 0.15


def _relay_wake(runtime: ServiceRuntime) -> Callable[[], None]:
    """What tells the outbox relay that events were committed.

    The shared relay is woken by commits made through ``add_event``; the recorder
    writes its events with one array insert instead, so it wakes the relay itself,
    at most once per ``RELAY_WAKE_DELAY``: under load the relay then sends one batch
    for many commits rather than a claim-publish-mark pass per commit.
    """
    scheduled = False

    def wake_now() -> None:
        nonlocal scheduled
        scheduled = False
        if runtime.relay is not None:
            runtime.relay.wake()

    def wake() -> None:
        nonlocal scheduled
        if not scheduled:
            scheduled = True
            asyncio.get_running_loop().call_later(RELAY_WAKE_DELAY, wake_now)

    return wake


def _driver_connect(engine: AsyncEngine) -> Callable[[], Awaitable[asyncpg.Connection]]:
    """Opens a plain asyncpg connection (the recorder's own), configured as the engine's are."""
    _, params = engine.dialect.create_connect_args(engine.url)
    for adapter_only in ("prepared_statement_cache_size", "prepared_statement_name_func"):
        params.pop(adapter_only, None)  # SQLAlchemy's own options, not asyncpg's
    params.setdefault("timeout", 5)

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(**params)

    return connect


def create_app(settings: Settings | None = None, catalog: Catalog | None = None) -> FastAPI:
    settings = settings or Settings()
    keep_prices = price_list_subscription(MODEL_PRICES_QUEUE, price_list).handler
    lease_book: list[LeaseBook] = []  # the running app's, once it has started

    async def apply_prices(session: AsyncSession, envelope: Envelope) -> None:
        await keep_prices(session, envelope)
        for book in lease_book:
            book.retire_all()

    runtime = ServiceRuntime(
        settings,
        messaging,
        subscriptions=[
            Subscription(USER_DELETED_QUEUE, ["user.deleted"], erase_user_requests),
            Subscription(PLANS_QUEUE, ["plan.updated"], apply_plan_updated),
            Subscription(MODEL_PRICES_QUEUE, [ModelPricesChanged.event_type], apply_prices),
        ],
        relay_poll_interval=0.5,
        # One message per relay pass rather than one per call: usage reads them whole.
        relay_bundled=[UsageRecorded.event_type],
    )
    tasks: set[asyncio.Task[None]] = set()

    async def start(app: FastAPI) -> None:
        loaded = catalog or load_catalog(settings.providers_file)
        upstreams = UpstreamPool(
            loaded.providers,
            pool_size=settings.upstream_pool_size,
            connect_timeout=settings.connect_timeout,
        )
        usage_http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200),
            # Internal calls carry no cookies; skipping the jar saves work on every hold.
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        tokens = ServiceTokenClient(
            settings.auth_internal_url,
            settings.client_id,
            settings.client_secret.get_secret_value(),
        )
        health = DeploymentHealth(settings.cooldown_failures, settings.cooldown_seconds)
        assert runtime.sessionmaker is not None
        refresher = PlanRefresher(
            runtime.sessionmaker, loaded.plans, interval=settings.plan_refresh_seconds
        )
        await refresher.start()
        app.state.plan_refresher = refresher
        app.state.catalog = loaded
        app.state.deployment_health = health
        app.state.upstreams = upstreams
        app.state.usage_http = usage_http
        app.state.service_tokens = tokens
        assert runtime.engine is not None
        recorder = CallRecorder(_driver_connect(runtime.engine), on_commit=_relay_wake(runtime))
        app.state.recorder = recorder
        reservations = ReservationClient(
            settings.usage_url,
            tokens,
            usage_http,
            refill=RefillLinks.under(settings.public_url),
            retry_seconds=settings.metering_retry_seconds,
        )
        leases = None
        if settings.lease_calls > 0:
            leases = LeaseBook(
                reservations,
                calls=settings.lease_calls,
                most_calls=settings.lease_most_calls,
                seconds=settings.lease_seconds,
                idle_seconds=settings.lease_idle_seconds,
                ttl_seconds=settings.reservation_ttl_seconds,
            )
            leases.start()
            lease_book.append(leases)
        app.state.completions = CompletionService(
            settings=settings,
            reservations=reservations,
            upstreams=upstreams,
            health=health,
            recorder=recorder,
            tasks=tasks,
            leases=leases,
        )

        for model in loaded.models.values():
            # Load the vocabularies now, before the runtime freezes the start-up heap.
            counter_for(model.spec.tokenizer)

    async def stop(app: FastAPI) -> None:
        if tasks:
            # Streams still running are recorded before the database goes away.
            _done, pending = await asyncio.wait(set(tasks), timeout=SHUTDOWN_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        leases = app.state.completions.leases
        if leases is not None:
            # Every call has ended: what the leases did not spend goes back now.
            await leases.close()
        await app.state.plan_refresher.stop()
        await app.state.recorder.close()
        await app.state.upstreams.close()
        await app.state.usage_http.close()
        await app.state.service_tokens.close()

    runtime.on_start.append(start)
    runtime.on_stop.append(stop)
    app = create_service_app(
        service=settings.service_name,
        title="Tollgate LLM proxy",
        lifespan=runtime.lifespan,
        readiness=runtime.readiness(),
        otlp_endpoint=settings.otlp_endpoint,
        amend_openapi=amend_document,
    )
    install_openai_errors(app)
    for prefix in OPENAI_PREFIXES:
        app.include_router(catalog_router, prefix=prefix)
    app.serve_directly(ROUTES, render_error=openai_error)
    return app
