"""Prometheus series of the ledger, next to the shared HTTP and delivery ones at ``/metrics``.

tollgate_usage_holds_open             holds taken and not yet settled (read at each sweep)
tollgate_usage_holds_expired_total    holds nobody settled before their TTL: each one is a
                                      call whose usage.recorded never arrived in time
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = ["HOLDS_EXPIRED", "HOLDS_OPEN"]

HOLDS_OPEN = Gauge("tollgate_usage_holds_open", "Holds taken and not yet settled")
HOLDS_EXPIRED = Counter(
    "tollgate_usage_holds_expired_total", "Holds the sweeper expired because nobody settled them"
)
