"""The objects the lifespan built, found on ``app.state``: for the completion routes
(served directly, they await these themselves) and as FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tollgate.llm_proxy.catalog.service import Catalog
from tollgate.llm_proxy.completions.service import CompletionService
from tollgate.llm_proxy.config import Settings
from tollgate.llm_proxy.upstream.health import DeploymentHealth

__all__ = [
    "CatalogDep",
    "HealthDep",
    "catalog_of",
    "completions_of",
    "health_of",
    "settings_of",
]


async def catalog_of(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


async def completions_of(request: Request) -> CompletionService:
    service: CompletionService = request.app.state.completions
    return service


async def health_of(request: Request) -> DeploymentHealth:
    health: DeploymentHealth = request.app.state.deployment_health
    return health


async def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


CatalogDep = Annotated[Catalog, Depends(catalog_of)]
HealthDep = Annotated[DeploymentHealth, Depends(health_of)]
