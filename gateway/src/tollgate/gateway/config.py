"""The gateway's settings, its routing table and its list of public routes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from tollgate.shared.scopes import ApiKeyScope
from tollgate.shared.settings import ServiceSettings

RouteClass = Literal["general", "llm", "auth", "open"]
Service = Literal["auth", "billing", "usage", "llm-proxy", "web"]


@dataclass(frozen=True)
class RouteRule:
    """Requests under ``prefix`` go to ``service``; the most specific rule wins.

    A ``*`` segment in the prefix matches any one path segment. ``read`` and ``write``
    are the API-key scopes the route family needs for GET/HEAD and for every other
    method; ``None`` means an API key is never enough: an interactive sign-in only.
    Access tokens of a signed-in person are not limited by scopes.
    """

    prefix: str
    service: Service
    read: ApiKeyScope | None = "read"
    write: ApiKeyScope | None = None


# Services serve the public paths themselves: nothing is stripped.
# The scope columns are the one place that says what a key reaches (docs/authorization.md):
# spending money, and changing the account, its keys, members or sub-users, is never a key's.
ROUTES: tuple[RouteRule, ...] = (
    RouteRule("/api/auth", "auth"),
    RouteRule("/api/users", "auth"),
    RouteRule("/api/api-keys", "auth"),
    RouteRule("/api/organizations", "auth"),
    RouteRule("/api/sub-users", "auth"),
    # A session's check is a question asked with POST: reading is enough.
    RouteRule("/api/vscode/session", "auth", write="read"),
    RouteRule("/api/vscode/usage", "usage", write="write"),
    RouteRule("/api/vscode/analytics", "usage"),
    RouteRule("/api/subscriptions", "billing"),
    RouteRule("/api/subscriptions/usage", "usage"),
    RouteRule("/api/billing", "billing"),
    RouteRule("/api/tokens", "usage"),
    RouteRule("/api/usage", "usage"),
    # Redeeming a code changes what the account may spend: a signed-in person's, never a key's.
    RouteRule("/api/promotions", "usage", read=None),
    RouteRule("/api/admin", "auth", read=None),
    RouteRule("/api/admin/users", "auth", read=None),
    RouteRule("/api/admin/users/*/plan", "billing", read=None),
    RouteRule("/api/admin/usage-stats", "usage", read=None),
    RouteRule("/api/admin/grants", "usage", read=None),
    RouteRule("/api/admin/model-prices", "usage", read=None),
    RouteRule("/api/admin/usage-costs", "usage", read=None),
    RouteRule("/api/admin/margin", "billing", read=None),
    RouteRule("/api/admin/promotion-codes", "usage", read=None),
    RouteRule("/api/admin/revenue", "billing", read=None),
    RouteRule("/api/admin/payments", "billing", read=None),
    RouteRule("/api/admin/plans", "billing", read=None),
    RouteRule("/api/admin/credit-packs", "billing", read=None),
    # Moving in from another backend: each service imports what it owns.
    RouteRule("/api/admin/imports/subscriptions", "billing", read=None),
    RouteRule("/api/admin/imports/invoices", "billing", read=None),
    RouteRule("/api/admin/imports/payments", "billing", read=None),
    RouteRule("/api/admin/imports/balances", "usage", read=None),
    RouteRule("/api/admin/imports/grants", "usage", read=None),
    RouteRule("/api/admin/imports/usage", "usage", read=None),
    RouteRule("/v1", "llm-proxy", read="llm", write="llm"),
    RouteRule("/api/llm", "llm-proxy", read="llm", write="llm"),
    RouteRule("/.well-known/jwks.json", "auth"),
)

# Every path no rule above claims is a page of the web app, open to anyone (the app keeps
# its own sessions), except under these first segments: there an unknown path stays the
# API's own 404, never a page.
PAGES = RouteRule("/", "web")
API_SEGMENTS = frozenset({"api", "v1", ".well-known", "internal"})

# Prefixes whose calls count against the plan's LLM requests per minute.
LLM_PREFIXES: tuple[str, ...] = ("/v1/", "/api/llm/")
# Under those prefixes, what only reads the catalog is no LLM call: an extension's model
# picker refreshing must not eat the chat budget. Each covers itself and what lies below.
LLM_CATALOG_PATHS: tuple[str, ...] = (
    "/v1/models",
    "/v1/providers",
    "/api/llm/models",
    "/api/llm/providers",
)

# Routes that need no token. ``*`` matches one path segment, a trailing ``/**`` any rest.
# Those of class "auth" are throttled per client IP and refused while Redis is down.
PUBLIC_ROUTES: tuple[tuple[str, str, RouteClass], ...] = (
    ("POST", "/api/auth/register", "auth"),
    ("POST", "/api/auth/login", "auth"),
    ("POST", "/api/auth/login-json", "auth"),
    ("POST", "/api/auth/refresh", "auth"),
    ("POST", "/api/auth/logout", "auth"),
    ("POST", "/api/auth/password/forgot", "auth"),
    ("POST", "/api/auth/password/reset", "auth"),
    ("POST", "/api/auth/verify-email/confirm", "auth"),
    ("GET", "/api/auth/oauth/*/authorize", "auth"),
    ("GET", "/api/auth/oauth/*/callback", "auth"),
    ("POST", "/api/auth/oauth/token", "auth"),
    ("POST", "/api/auth/device/code", "auth"),
    ("POST", "/api/auth/device/token", "auth"),
    ("GET", "/api/auth/device/**", "auth"),
    ("GET", "/api/auth/device", "auth"),  # the old page: it redirects to the web app's
    ("GET", "/api/auth/sign-in-methods", "open"),
    ("GET", "/.well-known/jwks.json", "open"),
    ("GET", "/api/subscriptions/plans", "open"),
    ("POST", "/api/billing/webhooks/stripe", "open"),
)


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore")

    port: int = 8000
    client_id: str = "gateway"
    auth_url: str = "http://127.0.0.1:8001"
    billing_url: str = "http://127.0.0.1:8002"
    usage_url: str = "http://127.0.0.1:8003"
    llm_proxy_url: str = "http://127.0.0.1:8004"
    web_url: str = "http://127.0.0.1:8005"

    # Upstream calls.
    connect_timeout: float = 2.0
    read_timeout: float = 30.0
    llm_read_timeout: float = 300.0
    idempotent_retries: int = Field(2, ge=0, le=5)
    upstream_pool_size: int = 512

    # Edge.
    max_body_bytes: int = 8 * 1024 * 1024
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_allow_credentials: bool = True
    trusted_proxy_hops: int = Field(0, ge=0, le=5)
    # Callers whose X-Forwarded-For is believed wherever they stand in the chain: the
    # web app, whose calls carry the person's address (comma-separated CIDRs).
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default_factory=list
    )

    # Caches.
    token_cache_size: int = 20_000
    api_key_cache_seconds: float = 30.0
    api_key_negative_cache_seconds: float = 5.0

    # Rate limits and revocation.
    auth_requests_per_minute_per_ip: int = 30
    revocation_ttl_seconds: int = 3600
    redis_timeout: float = 0.25
    redis_retry_seconds: float = 1.0

    openapi_cache_seconds: float = 60.0
    workers: int = Field(1, ge=1, le=64)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """Comma-separated (``https://a,https://b``) or a JSON list (``["https://a"]``)."""
        if isinstance(value, str):
            text = value.strip()
            items = json.loads(text) if text.startswith("[") else text.split(",")
            return [str(o).strip().rstrip("/") for o in items if str(o).strip()]
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        """``127.0.0.1/32,10.0.0.0/8``; a bare address is a network of one."""
        if isinstance(value, str):
            return [ip_network(n.strip(), strict=False) for n in value.split(",") if n.strip()]
        return value

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> Settings:
        if "*" in self.cors_origins and self.cors_allow_credentials:
            raise ValueError(
                "GATEWAY_CORS_ORIGINS='*' cannot be combined with credentials; "
                "list the origins or set GATEWAY_CORS_ALLOW_CREDENTIALS=false"
            )
        return self

    def upstream_url(self, service: Service) -> str:
        return {
            "auth": self.auth_url,
            "billing": self.billing_url,
            "usage": self.usage_url,
            "llm-proxy": self.llm_proxy_url,
            "web": self.web_url,
        }[service].rstrip("/")
