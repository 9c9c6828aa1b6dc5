"""The catalog file's shape: providers, and models with ordered deployments."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["CatalogFile", "DeploymentSpec", "ModelSpec", "ProviderSpec"]

Endpoint = Literal["chat", "completions", "embeddings"]


class ProviderSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["openai", "anthropic"] = "openai"
    base_url: str
    # Name of the environment variable holding the key; keys never live in the file.
    api_key_env: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")


class DeploymentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str
    model: str  # the upstream's name for the model
    input_per_million: Decimal = Field(Decimal(0), ge=0)
    output_per_million: Decimal = Field(Decimal(0), ge=0)


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoints: list[Endpoint] = Field(default_factory=lambda: list[Endpoint](["chat"]))
    tokenizer: Literal["o200k_base", "cl100k_base"] = "o200k_base"
    context_window: int = Field(128_000, gt=0)
    max_output_tokens: int = Field(16_384, gt=0)
    # Plans that may use the model; None defers to the plan catalog's allowed_models.
    plans: list[str] | None = None
    owned_by: str = "tollgate"
    deployments: list[DeploymentSpec] = Field(min_length=1)


class CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    providers: dict[str, ProviderSpec]
    models: dict[str, ModelSpec]
