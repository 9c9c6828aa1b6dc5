"""Prometheus series of event delivery: what an operator watches to see events stuck.

Every service exports the same names, told apart by the scrape's ``job`` label:

    tollgate_outbox_pending_events               events committed, not yet confirmed by the broker
    tollgate_outbox_oldest_pending_age_seconds   how long the oldest has waited (0 when none)
    tollgate_outbox_publish_failures_total       publishes the broker refused or never confirmed
    tollgate_events_consumed_total{queue,outcome}  applied, duplicate, retried, dead_lettered
    tollgate_dead_letter_messages{queue}         messages parked in ``<queue>.dlq`` right now

The two outbox gauges and the dead-letter depth are read by a periodic probe (every
15 s by default), not on the hot path: an alert about minutes of backlog does not need
a fresher figure, and the relay's pass stays one statement.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = [
    "DEAD_LETTERS",
    "EVENTS_CONSUMED",
    "OUTBOX_OLDEST_AGE",
    "OUTBOX_PENDING",
    "OUTBOX_PUBLISH_FAILURES",
]

OUTBOX_PENDING = Gauge(
    "tollgate_outbox_pending_events", "Events in the outbox not yet confirmed by the broker"
)
OUTBOX_OLDEST_AGE = Gauge(
    "tollgate_outbox_oldest_pending_age_seconds",
    "Age of the oldest event waiting in the outbox (0 when none waits)",
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "tollgate_outbox_publish_failures_total",
    "Outbox events the broker refused or did not confirm (each is retried)",
)
EVENTS_CONSUMED = Counter(
    "tollgate_events_consumed_total",
    "Events delivered to a consumer, by queue and what became of them",
    ["queue", "outcome"],
)
DEAD_LETTERS = Gauge(
    "tollgate_dead_letter_messages",
    "Messages parked in a queue's dead-letter queue, waiting for an operator",
    ["queue"],
)
