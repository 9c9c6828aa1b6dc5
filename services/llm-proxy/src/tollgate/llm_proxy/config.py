"""Settings of the LLM proxy, read from ``LLM_PROXY_*`` variables."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from tollgate.shared.settings import ServiceSettings

__all__ = ["Settings"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LLM_PROXY_", env_file=".env", extra="ignore")

    port: int = 8004
    # Processes serving the port; each keeps its own upstream pools and cool-down state.
    workers: int = 1
    database_url: str = "postgresql+asyncpg://tollgate_llm_proxy:tollgate@127.0.0.1:5432/llm_proxy"
    client_id: str = "llm-proxy"
    client_secret: SecretStr = SecretStr("changeme")

    # Usage holds and releases tokens. The devstack hands every process the gateway's
    # routing table, so its GATEWAY_USAGE_URL is accepted when ours is not set.
    usage_url: str = Field(
        "http://127.0.0.1:8003",
        validation_alias=AliasChoices("LLM_PROXY_USAGE_URL", "GATEWAY_USAGE_URL"),
    )
    # YAML or JSON catalog of providers and models; the packaged default when unset.
    providers_file: str | None = None

    # Upstream calls.
    connect_timeout: float = 5.0
    first_byte_timeout: float = 60.0  # until the upstream's status line / first SSE event
    idle_stream_timeout: float = 30.0  # between two SSE events once a stream runs
    request_timeout: float = 300.0  # a whole non-streamed call
    max_attempts: int = 3  # deployments tried per call, first one included
    cooldown_failures: int = 3  # consecutive failures that cool a deployment down
    cooldown_seconds: float = 30.0
    # After a client hangs up, how long to keep reading the upstream to learn its usage.
    disconnect_drain_seconds: float = 10.0
    upstream_pool_size: int = 200  # connections per provider

    # Token gate.
    reservation_ttl_seconds: int = 600
    # How often each worker reads the plans billing announced (an admin's edit is
    # enforced everywhere within this delay).
    plan_refresh_seconds: float = Field(2.0, gt=0, le=300)
    # Where people reach the web app: a 402 links its upgrade and credits pages.
    public_url: str = "http://127.0.0.1:8000"
    # How long a call waits for usage to answer its hold (asking again, since a hold is
    # idempotent by request_id) while usage restarts, before it is refused with a 503.
    metering_retry_seconds: float = 10.0
    # Leases: a busy caller's hold carries room for this many more calls, spent here
    # without asking usage (0: every call takes its own hold). Calls start from a lease
    # for at most lease_seconds; one with no call for lease_idle_seconds is given back.
    lease_calls: int = Field(32, ge=0, le=10_000)
    # A caller whose calls use its leases up before their time gets leases of twice the
    # calls, up to this many; one whose leases run out of time, half (down to lease_calls).
    lease_most_calls: int = Field(256, ge=0, le=10_000)
    lease_seconds: int = Field(5, ge=1, le=60)
    # As long as lease_seconds: a person's calls, seconds apart, spend from one lease
    # rather than each asking usage for a hold (bench/llm, "a call every 1.5 s").
    lease_idle_seconds: float = Field(5.0, gt=0, le=60)
    max_body_bytes: int = 4 * 1024 * 1024

    # Request log: prompts and completions are kept only when this is on.
    store_content: bool = False
