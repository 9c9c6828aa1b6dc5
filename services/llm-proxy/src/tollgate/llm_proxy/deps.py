"""FastAPI dependencies: the objects the lifespan built, found on ``app.state``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tollgate.llm_proxy.catalog.service import Catalog
from tollgate.llm_proxy.completions.service import CompletionService
from tollgate.llm_proxy.config import Settings
from tollgate.llm_proxy.upstream.health import DeploymentHealth

__all__ = ["CatalogDep", "CompletionsDep", "HealthDep", "SettingsDep"]


async def _catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


async def _completions(request: Request) -> CompletionService:
    service: CompletionService = request.app.state.completions
    return service


async def _health(request: Request) -> DeploymentHealth:
    health: DeploymentHealth = request.app.state.deployment_health
    return health


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


CatalogDep = Annotated[Catalog, Depends(_catalog)]
CompletionsDep = Annotated[CompletionService, Depends(_completions)]
HealthDep = Annotated[DeploymentHealth, Depends(_health)]
SettingsDep = Annotated[Settings, Depends(_settings)]
