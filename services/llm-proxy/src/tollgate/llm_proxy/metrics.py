"""Prometheus series of the proxy, next to the shared HTTP ones at ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = [
    "CALLS",
    "HOLD_SECONDS",
    "RECORD_SECONDS",
    "TIME_TO_FIRST_TOKEN",
    "TOKENS",
    "UPSTREAM_ATTEMPTS",
]

UPSTREAM_ATTEMPTS = Counter(
    "tollgate_llm_upstream_attempts_total",
    "Calls to provider deployments, by how they went (ok, retryable, rejected)",
    ["provider", "outcome"],
)
CALLS = Counter(
    "tollgate_llm_calls_total",
    "Proxied calls that took a hold, by model and final status",
    ["model", "status"],
)
TOKENS = Counter("tollgate_llm_tokens_total", "Tokens billed, by model and kind", ["model", "kind"])
TIME_TO_FIRST_TOKEN = Histogram(
    "tollgate_llm_time_to_first_token_seconds",
    "From the request to the upstream's first answer",
    ["model"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
HOLD_SECONDS = Histogram(
    "tollgate_llm_hold_seconds",
    "Asking usage for a hold: the token gate's share of every call's latency",
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)
RECORD_SECONDS = Histogram(
    "tollgate_llm_record_seconds",
    "Committing a finished call's log row and usage event, which its answer waits for",
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)
