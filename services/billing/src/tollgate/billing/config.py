"""Billing's settings: ``BILLING_*`` variables, plus the shared unprefixed ones."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from tollgate.shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_", env_file=".env", extra="ignore")

    port: int = 8002
    database_url: str = "postgresql+asyncpg://tollgate_billing:tollgate@127.0.0.1:5432/billing"
    client_id: str = "billing"
    client_secret: SecretStr = SecretStr("changeme")

    stripe_api_key: SecretStr = SecretStr("changeme")
    # Unset means Stripe itself; development and tests point it at a local stand-in.
    stripe_api_base: str | None = None
    # Comma-separated, newest first: during a rotation both the old and the new secret verify.
    stripe_webhook_secrets: SecretStr = SecretStr("changeme")
    # How far a webhook's signed timestamp may be from our clock, in either direction.
    stripe_webhook_tolerance_seconds: int = 300
    stripe_timeout_seconds: float = 10.0
    stripe_max_network_retries: int = 2
    # Price ids of the paid plans, written into the catalog when it is seeded.
    stripe_price_pro: str | None = None
    stripe_price_enterprise: str | None = None
    # Their yearly prices (a year paid at once); unset: the plan is sold monthly only.
    stripe_price_pro_yearly: str | None = None
    stripe_price_enterprise_yearly: str | None = None

    checkout_success_url: str = "http://127.0.0.1:8000/billing/success"
    checkout_cancel_url: str = "http://127.0.0.1:8000/billing/cancel"
    portal_return_url: str = "http://127.0.0.1:8000/billing"
    # Where a credit pack's Checkout returns, with ?checkout=paid or ?checkout=cancelled.
    top_up_return_url: str = "http://127.0.0.1:8000/billing/credits"
    # How often free and complimentary subscriptions roll into their next period.
    renewal_interval_seconds: float = 60.0
    reconcile_lookback_hours: int = 72

    @property
    def webhook_secrets(self) -> list[str]:
        raw = self.stripe_webhook_secrets.get_secret_value()
        return [s.strip() for s in raw.split(",") if s.strip()]

    def price_ids(self) -> dict[str, str]:
        prices = {"pro": self.stripe_price_pro, "enterprise": self.stripe_price_enterprise}
        return {plan: price for plan, price in prices.items() if price}

    def yearly_price_ids(self) -> dict[str, str]:
        prices = {
            "pro": self.stripe_price_pro_yearly,
            "enterprise": self.stripe_price_enterprise_yearly,
        }
        return {plan: price for plan, price in prices.items() if price}
