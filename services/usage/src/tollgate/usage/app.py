from fastapi import FastAPI

from tollgate.usage.config import Settings
from tollgate.usage.models import messaging
from tollgate.shared.runtime import ServiceRuntime
from tollgate.shared.web import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, messaging)
    return create_service_app(
        service=settings.service_name,
        title="Tollgate usage",
        lifespan=runtime.lifespan,
        readiness=runtime.readiness(),
        otlp_endpoint=settings.otlp_endpoint,
    )
