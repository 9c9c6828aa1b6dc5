"""What billing's routes and consumers share: settings and the Stripe client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from tollgate.billing.config import Settings
from tollgate.billing.stripe_api import StripeApi

SOURCE = "billing"


@dataclass
class Billing:
    settings: Settings
    stripe: StripeApi = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.stripe = StripeApi(
            s.stripe_api_key.get_secret_value(),
            api_base=s.stripe_api_base,
            timeout=s.stripe_timeout_seconds,
            max_network_retries=s.stripe_max_network_retries,
        )


def get_billing(request: Request) -> Billing:
    billing: Billing = request.app.state.billing
    return billing


BillingDep = Annotated[Billing, Depends(get_billing)]
