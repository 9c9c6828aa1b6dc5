"""Prometheus metrics of the gateway (the shared request counters plus its own)."""

from __future__ import annotations

from prometheus_client import Counter

from tollgate.shared.telemetry import LATENCY, REQUESTS

__all__ = ["LATENCY", "RATE_LIMIT_DECISIONS", "REQUESTS", "UPSTREAM_ERRORS"]

RATE_LIMIT_DECISIONS = Counter(
    "tollgate_gateway_rate_limit_decisions_total",
    "Admission decisions by route class and outcome",
    ["route_class", "outcome"],
)
UPSTREAM_ERRORS = Counter(
    "tollgate_gateway_upstream_errors_total",
    "Calls to services that failed, by service and kind",
    ["service", "kind"],
)
