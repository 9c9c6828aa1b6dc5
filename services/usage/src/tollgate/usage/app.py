from fastapi import FastAPI

from tollgate.shared.runtime import ServiceRuntime
from tollgate.shared.web import create_service_app
from tollgate.usage.admin.endpoints import router as admin_router
from tollgate.usage.analytics.endpoints import router as analytics_router
from tollgate.usage.config import Settings
from tollgate.usage.imports.endpoints import router as imports_router
from tollgate.usage.members.endpoints import router as members_router
from tollgate.usage.metering.ingest import UsageIngestor
from tollgate.usage.models import messaging
from tollgate.usage.prices.endpoints import router as prices_router
from tollgate.usage.promotions.endpoints import router as promotions_router
from tollgate.usage.reservations.desk import ReservationDesk
from tollgate.usage.reservations.endpoints import RESERVATION_ROUTE
from tollgate.usage.reservations.endpoints import router as reservations_router
from tollgate.usage.reservations.sweeper import HoldSweeper
from tollgate.usage.subscriptions import USAGE_QUEUE, subscriptions, usage_subscription


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(
        settings, messaging, subscriptions=subscriptions(settings), watched_queues=[USAGE_QUEUE]
    )

    async def start_workers(app: FastAPI) -> None:
        assert runtime.engine is not None and runtime.sessionmaker is not None
        assert runtime.broker is not None
        sweeper = HoldSweeper(runtime.sessionmaker, interval=settings.sweep_interval_seconds)
        sweeper.start()
        app.state.hold_sweeper = sweeper
        ingestor = UsageIngestor(
            runtime.broker,
            runtime.sessionmaker,
            messaging.inbox,
            messaging.outbox,
            usage_subscription(settings, messaging.outbox),
            settings,
            batch_size=settings.ingest_batch_size,
        )
        await ingestor.start()
        app.state.usage_ingestor = ingestor
        desk = ReservationDesk(runtime.engine, settings)
        desk.start()
        app.state.reservation_desk = desk

    async def stop_workers(app: FastAPI) -> None:
        await app.state.reservation_desk.stop()
        await app.state.usage_ingestor.stop()
        await app.state.hold_sweeper.stop()

    runtime.on_start.append(start_workers)
    runtime.on_stop.append(stop_workers)
    app = create_service_app(
        service=settings.service_name,
        title="Tollgate usage",
        lifespan=runtime.lifespan,
        readiness=runtime.readiness(),
        otlp_endpoint=settings.otlp_endpoint,
    )
    app.include_router(reservations_router)
    app.serve_directly([RESERVATION_ROUTE])
    app.include_router(analytics_router)
    app.include_router(members_router)
    app.include_router(admin_router)
    app.include_router(prices_router)
    app.include_router(imports_router)
    app.include_router(promotions_router)
    return app
