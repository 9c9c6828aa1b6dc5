"""Configuration read from the environment and validated at start.

Variables every service shares are read without a prefix (``AMQP_URL``); a
service's own variables carry its prefix (``AUTH_DATABASE_URL``).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PLACEHOLDER_SECRETS", "LogFormat", "ServiceSettings"]

# Values that ship in .env.example and compose defaults. Outside development they
# mean somebody forgot to set a real secret, so the service refuses to start.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "changethis", "secret", "password", "tollgate", "guest"}
)

Environment = Literal["development", "test", "production"]
LogFormat = Literal["json", "text"]


class ServiceSettings(BaseSettings):
    """Settings common to every service; subclasses add their own, with an env_prefix."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    env: Environment = Field("development", validation_alias="TOLLGATE_ENV")
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    # Unset: short readable lines in development, JSON everywhere else (see log_format).
    log_format_choice: LogFormat | None = Field(None, validation_alias="LOG_FORMAT")
    amqp_url: str = Field("amqp://guest:guest@localhost:5672/", validation_alias="AMQP_URL")
    redis_url: str = Field("redis://localhost:6379/0", validation_alias="REDIS_URL")
    jwks_url: str = Field(
        "http://127.0.0.1:8001/.well-known/jwks.json", validation_alias="JWKS_URL"
    )
    jwt_issuer: str = Field("tollgate-auth", validation_alias="JWT_ISSUER")
    jwt_audience: str = Field("tollgate", validation_alias="JWT_AUDIENCE")
    auth_internal_url: str = Field("http://127.0.0.1:8001", validation_alias="AUTH_INTERNAL_URL")
    otlp_endpoint: str | None = Field(None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")

    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = "postgresql+asyncpg://localhost/tollgate"
    # Credentials of this service's client at auth (client-credentials grant).
    client_id: str = "service"
    client_secret: SecretStr = SecretStr("changeme")

    @field_validator("log_format_choice", mode="before")
    @classmethod
    def _empty_means_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> ServiceSettings:
        if self.env == "development" or self.env == "test":
            return self
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                secret: str | None = value.get_secret_value()
            elif name.endswith("_url") and isinstance(value, str):
                # Connection strings carry passwords; the development defaults must not ship.
                secret = urlsplit(value).password
            else:
                continue
            if secret is not None and secret in PLACEHOLDER_SECRETS:
                raise ValueError(
                    f"{name} still has a placeholder value; set a real secret "
                    f"(TOLLGATE_ENV={self.env})"
                )
        return self

    @property
    def log_format(self) -> LogFormat:
        if self.log_format_choice is not None:
            return self.log_format_choice
        return "text" if self.env == "development" else "json"

    @property
    def service_name(self) -> str:
        prefix = self.model_config.get("env_prefix") or "service_"
        return prefix.rstrip("_").lower().replace("_", "-")
