from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from tollgate.shared.plans import DEFAULT_PLANS
from tollgate.shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="USAGE_", env_file=".env", extra="ignore")

    port: int = 8003
    # Processes serving the port; each runs its own consumers and sweeper.
    workers: int = 1
    database_url: str = "postgresql+asyncpg://tollgate_usage:tollgate@127.0.0.1:5432/usage"
    client_id: str = "usage"
    client_secret: SecretStr = SecretStr("changeme")

    # Service clients allowed to create and release reservations (comma-separated).
    reservation_clients: str = "llm-proxy"
    # Monthly allocation of a free account; billing's subscription.changed may raise it.
    free_monthly_tokens: int = int(DEFAULT_PLANS["free"]["monthly_tokens"])
    hold_ttl_seconds: int = 600
    max_hold_ttl_seconds: int = 3600
    # Completion tokens held when the caller does not say (plans may set
    # limits.default_completion_tokens instead).
    default_completion_tokens: int = 4096
    sweep_interval_seconds: float = 5.0
    # balance.low goes out when the balance falls to these percentages of the allocation.
    low_balance_percents: str = "20,10"
    # Feature events a user may send per minute to /api/vscode/usage/track.
    track_events_per_minute: int = 600
    max_stats_days: int = 366
    # usage.recorded events applied per transaction (at most).
    ingest_batch_size: int = 200

    @property
    def reservation_client_subjects(self) -> frozenset[str]:
        names = (n.strip() for n in self.reservation_clients.split(","))
        return frozenset(f"service:{n}" for n in names if n)

    @property
    def low_balance_thresholds(self) -> list[int]:
        return sorted(
            {int(p) for p in self.low_balance_percents.split(",") if p.strip()}, reverse=True
        )
