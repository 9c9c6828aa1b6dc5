"""The loaded catalog: which models exist, who may use them, where they run, what they cost."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path

import yaml
from pydantic import SecretStr

from tollgate.llm_proxy.catalog.schemas import CatalogFile, ModelSpec, ProviderSpec
from tollgate.llm_proxy.plans.service import PlanModels
from tollgate.shared.plans import limits_for

__all__ = ["Catalog", "Deployment", "Model", "Provider", "load_catalog"]

log = logging.getLogger("tollgate.llm_proxy.catalog")
MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class Provider:
    name: str
    kind: str  # "openai" or "anthropic"
    base_url: str
    api_key: SecretStr | None
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Deployment:
    provider: Provider
    upstream_model: str
    input_per_million: Decimal
    output_per_million: Decimal

    @property
    def key(self) -> str:
        return f"{self.provider.name}/{self.upstream_model}"

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        cost = (
            Decimal(prompt_tokens) * self.input_per_million
            + Decimal(completion_tokens) * self.output_per_million
        ) / MILLION
        return cost.quantize(Decimal("0.0000000001")).normalize() if cost else Decimal(0)


@dataclass(frozen=True)
class Model:
    id: str
    spec: ModelSpec
    deployments: tuple[Deployment, ...]

    def serves(self, endpoint: str) -> bool:
        return endpoint in self.spec.endpoints

    def allowed_for(self, plan: str | None, announced: Sequence[str] | None) -> bool:
        """The catalog file's ``plans`` say where the model may go at most (every plan when
        unset); billing's announced list for the plan, once there is one, must include it
        too. Before any announcement, a model without ``plans`` follows the built-in
        defaults of the plan."""
        code = plan or "free"
        if self.spec.plans is not None:
            if code not in self.spec.plans and "*" not in self.spec.plans:
                return False
            if announced is None:
                return True
        allowed = announced if announced is not None else limits_for(code)["allowed_models"]
        return "*" in allowed or self.id in allowed


class Catalog:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        models: Mapping[str, Model],
        plans: PlanModels | None = None,
    ) -> None:
        self.providers = dict(providers)
        self.models = dict(models)
        # Which models each plan allows: the built-in defaults until billing announces edits.
        self.plans = plans or PlanModels()

    def get(self, model_id: str) -> Model | None:
        return self.models.get(model_id)

    def allows(self, model: Model, plan: str | None) -> bool:
        return model.allowed_for(plan, self.plans.announced(plan))

    def for_plan(self, plan: str | None) -> list[Model]:
        announced = self.plans.announced(plan)
        return [m for m in self.models.values() if m.allowed_for(plan, announced)]

    @classmethod
    def from_file(cls, document: CatalogFile, environ: Mapping[str, str]) -> Catalog:
        providers: dict[str, Provider] = {}
        for name, spec in document.providers.items():
            provider = _provider(name, spec, environ)
            if provider is not None:
                providers[name] = provider
        models: dict[str, Model] = {}
        for model_id, model_spec in document.models.items():
            unknown = {d.provider for d in model_spec.deployments} - set(document.providers)
            if unknown:
                raise ValueError(f"model {model_id} names unknown providers: {sorted(unknown)}")
            deployments = tuple(
                Deployment(
                    providers[d.provider], d.model, d.input_per_million, d.output_per_million
                )
                for d in model_spec.deployments
                if d.provider in providers
            )
            if not deployments:
                log.warning("model %s has no configured provider; it is not offered", model_id)
                continue
            models[model_id] = Model(model_id, model_spec, deployments)
        return cls(providers, models)


def _provider(name: str, spec: ProviderSpec, environ: Mapping[str, str]) -> Provider | None:
    key: SecretStr | None = None
    if spec.api_key_env:
        value = environ.get(spec.api_key_env, "")
        if not value:
            log.info("provider %s skipped: %s is not set", name, spec.api_key_env)
            return None
        key = SecretStr(value)
    return Provider(name, spec.kind, spec.base_url, key, dict(spec.headers))


def load_catalog(path: str | None, environ: Mapping[str, str] | None = None) -> Catalog:
    """Read the catalog from ``path`` (YAML or JSON), or the packaged default."""
    if path:
        text = Path(path).read_text(encoding="utf-8")
        raw = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    else:
        packaged = resources.files("tollgate.llm_proxy.catalog") / "default_providers.yaml"
        raw = yaml.safe_load(packaged.read_text(encoding="utf-8"))
    document = CatalogFile.model_validate(raw)
    return Catalog.from_file(document, os.environ if environ is None else environ)
