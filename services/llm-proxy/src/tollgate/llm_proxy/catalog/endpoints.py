"""``GET /models`` and ``GET /providers``: what the caller may use, and who serves it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tollgate.llm_proxy.callers import CallerDep
from tollgate.llm_proxy.catalog.service import Model
from tollgate.llm_proxy.deps import CatalogDep, HealthDep
from tollgate.llm_proxy.errors import ModelNotFound
from tollgate.llm_proxy.models import price_list
from tollgate.shared.db import SessionDep
from tollgate.shared.decimals import plain
from tollgate.shared.messaging.events import PricePerMillion
from tollgate.shared.model_prices import credit_price, read_price_list

__all__ = ["router"]

router = APIRouter(tags=["models"])
CREATED = 1_700_000_000  # OpenAI clients expect a creation time; ours is a fixed epoch


def _model_entry(model: Model, credits: PricePerMillion | None) -> dict[str, Any]:
    return {
        "id": model.id,
        "object": "model",
        "created": CREATED,
        "owned_by": model.spec.owned_by,
        "context_window": model.spec.context_window,
        "max_output_tokens": model.spec.max_output_tokens,
        "endpoints": list(model.spec.endpoints),
        "price": _price(model),
        # What a call costs from the balance: usage's price, as it last announced it.
        "credits": price.model_dump() if (price := credit_price(credits)) else None,
    }


def _price(model: Model) -> dict[str, str] | None:
    """The first deployment's prices (the one tried first); None when the catalog has none."""
    first = model.deployments[0] if model.deployments else None
    if first is None or not (first.input_per_million or first.output_per_million):
        return None
    return {
        "input_per_million": plain(first.input_per_million),
        "output_per_million": plain(first.output_per_million),
    }


@router.get("/models")
async def list_models(
    principal: CallerDep, catalog: CatalogDep, session: SessionDep
) -> dict[str, Any]:
    """Models the caller's plan may use (OpenAI's list shape), each with its price in credits."""
    credits = await read_price_list(session, price_list)
    models = catalog.for_plan(principal.plan)
    return {"object": "list", "data": [_model_entry(m, credits.get(m.id)) for m in models]}


@router.get("/models/{model_id:path}")
async def get_model(
    model_id: str, principal: CallerDep, catalog: CatalogDep, session: SessionDep
) -> dict[str, Any]:
    """One model, if the caller's plan may use it."""
    model = catalog.get(model_id)
    if model is None or not catalog.allows(model, principal.plan):
        raise ModelNotFound(
            f"The model '{model_id}' does not exist or you do not have access to it"
        )
    return _model_entry(model, (await read_price_list(session, price_list)).get(model.id))


@router.get("/providers")
async def list_providers(
    principal: CallerDep, catalog: CatalogDep, health: HealthDep
) -> dict[str, Any]:
    """Configured providers, the models they serve for this plan, and their current health."""
    providers: dict[str, dict[str, Any]] = {
        name: {"id": name, "kind": p.kind, "models": []} for name, p in catalog.providers.items()
    }
    for model in catalog.for_plan(principal.plan):
        for d in model.deployments:
            providers[d.provider.name]["models"].append(
                {"model": model.id, "upstream_model": d.upstream_model, **health.snapshot(d)}
            )
    return {"object": "list", "data": [p for p in providers.values() if p["models"]]}
