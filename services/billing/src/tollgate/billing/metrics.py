"""Prometheus series of billing, next to the shared HTTP and delivery ones at ``/metrics``.

tollgate_billing_webhook_lag_seconds   from Stripe creating an event to billing receiving
                                       it: retries after failures show up here as hours
"""

from __future__ import annotations

from prometheus_client import Histogram

__all__ = ["WEBHOOK_LAG"]

WEBHOOK_LAG = Histogram(
    "tollgate_billing_webhook_lag_seconds",
    "From Stripe creating an event to billing receiving it (verified events only)",
    buckets=(1, 5, 15, 60, 300, 900, 3600, 6 * 3600, 24 * 3600, 3 * 24 * 3600),
)
