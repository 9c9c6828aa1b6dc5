from fastapi import FastAPI

from tollgate.llm_proxy.config import Settings
from tollgate.llm_proxy.models import messaging
from tollgate.shared.runtime import ServiceRuntime
from tollgate.shared.web import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, messaging)
    return create_service_app(
        service=settings.service_name,
        title="Tollgate LLM proxy",
        lifespan=runtime.lifespan,
        readiness=runtime.readiness(),
        otlp_endpoint=settings.otlp_endpoint,
    )
