"""Events between services, delivered at least once and applied exactly once.

events     the envelope and one pydantic model per event type
broker     connection, the topic exchange, publishing with confirms and trace context
outbox     outbox and inbox tables, ``add_event`` inside a business transaction
relay      OutboxRelay: drains the outbox to the broker
consumer   Consumer: manual ack after commit, inbox dedup, retry with backoff, dead letters
dead_letters  list and replay parked messages (``python -m tollgate.shared.messaging.dead_letters``)
"""

from tollgate.shared.messaging.broker import EXCHANGE, Broker
from tollgate.shared.messaging.consumer import Consumer, Subscription
from tollgate.shared.messaging.events import (
    EVENT_TYPES,
    Envelope,
    EventData,
    make_envelope,
)
from tollgate.shared.messaging.outbox import add_event, messaging_tables
from tollgate.shared.messaging.relay import OutboxRelay

__all__ = [
    "EVENT_TYPES",
    "EXCHANGE",
    "Broker",
    "Consumer",
    "Envelope",
    "EventData",
    "OutboxRelay",
    "Subscription",
    "add_event",
    "make_envelope",
    "messaging_tables",
]
