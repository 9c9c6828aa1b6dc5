"""The billing service's FastAPI app: routes, the user-event consumer, catalog seeding."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from tollgate.billing.admin.endpoints import router as admin_router
from tollgate.billing.config import Settings
from tollgate.billing.context import Billing
from tollgate.billing.customers import consumer as customers
from tollgate.billing.imports.endpoints import router as imports_router
from tollgate.billing.invoices.endpoints import router as invoices_router
from tollgate.billing.members import consumer as members
from tollgate.billing.models import messaging
from tollgate.billing.plans.endpoints import router as plans_router
from tollgate.billing.plans.service import seed_catalog
from tollgate.billing.subscriptions.endpoints import router as subscriptions_router
from tollgate.billing.subscriptions.sync import renew_local_periods
from tollgate.billing.topups import auto as top_ups
from tollgate.billing.topups.catalog import seed_packs
from tollgate.billing.topups.endpoints import router as top_ups_router
from tollgate.billing.webhooks.endpoints import router as webhooks_router
from tollgate.shared.periodic import Periodic
from tollgate.shared.runtime import ServiceRuntime
from tollgate.shared.web import create_service_app

log = logging.getLogger("tollgate.billing")


def _renewals(app: FastAPI, interval: float) -> Periodic:
    """Free and complimentary plans have no Stripe to renew them; this does, once per period."""

    async def renew() -> None:
        async with app.state.sessionmaker() as session, session.begin():
            renewed = await renew_local_periods(session)
        if renewed:
            log.info("renewed %d free or complimentary periods", renewed)

    return Periodic("billing-renewals", renew, interval)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    billing = Billing(settings)
    runtime = ServiceRuntime(
        settings,
        messaging,
        subscriptions=[
            customers.subscription(billing),
            members.subscription(),
            top_ups.subscription(billing),
        ],
    )

    async def start(app: FastAPI) -> None:
        app.state.billing = billing
        async with app.state.sessionmaker() as session, session.begin():
            await seed_catalog(session, settings.price_ids(), settings.yearly_price_ids())
            await seed_packs(session)
        app.state.renewer = _renewals(app, settings.renewal_interval_seconds)
        app.state.renewer.start()

    async def stop(app: FastAPI) -> None:
        await app.state.renewer.stop()
        await billing.stripe.close()

    runtime.on_start.append(start)
    runtime.on_stop.append(stop)
    app = create_service_app(
        service=settings.service_name,
        title="Tollgate billing",
        lifespan=runtime.lifespan,
        readiness=runtime.readiness(),
        otlp_endpoint=settings.otlp_endpoint,
    )
    for router in (
        plans_router,
        subscriptions_router,
        invoices_router,
        webhooks_router,
        admin_router,
        imports_router,
        top_ups_router,
    ):
        app.include_router(router)
    return app
