"""Bundles: many events of one type in one message.

A message costs the producer a publish and a confirm, the broker a persistent
write, and the consumer a delivery, whatever it carries. llm-proxy sends one
``usage.recorded`` per call, so per-message work was a quarter of a call's CPU on
the whole path; its relay sends the due rows of that type as one message instead.

A bundle is a message whose content type is ``BUNDLE_CONTENT_TYPE`` and whose body
is a JSON array of ``{"headers": {...}, "event": {...}}``: each event the very
envelope it would have been alone (same id, so deduplication is unchanged) with the
AMQP headers it would have had (its own trace). ``events_in`` reads either form; a
consumer that applies events one at a time splits a bundle into single messages
first (``Consumer``), so retries and dead letters stay per event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from aio_pika.abc import AbstractIncomingMessage
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from tollgate.shared.messaging.events import Envelope

__all__ = ["BUNDLE_CONTENT_TYPE", "Bundled", "bundle_body", "events_in", "is_bundle"]

BUNDLE_CONTENT_TYPE = "application/vnd.tollgate.bundle+json"


class Bundled(BaseModel):
    """One event of a message: its envelope and the AMQP headers that go with it."""

    model_config = ConfigDict(frozen=True)

    headers: dict[str, Any] = Field(default_factory=dict)
    event: Envelope


_BUNDLE = TypeAdapter(list[Bundled])


def bundle_body(events: Sequence[tuple[str, Mapping[str, Any] | None]]) -> bytes:
    """The bundle of these events: each an envelope's JSON text (as the outbox keeps
    it) with its headers."""
    return (
        b"["
        + b",".join(
            b'{"headers":' + orjson.dumps(headers or {}) + b',"event":' + body.encode() + b"}"
            for body, headers in events
        )
        + b"]"
    )


def is_bundle(message: AbstractIncomingMessage) -> bool:
    return message.content_type == BUNDLE_CONTENT_TYPE


def events_in(message: AbstractIncomingMessage) -> list[Bundled]:
    """The events a message carries: one, or a bundle's; raises ValidationError."""
    if is_bundle(message):
        return _BUNDLE.validate_json(message.body)
    envelope = Envelope.model_validate_json(message.body)
    return [Bundled(headers=dict(message.headers or {}), event=envelope)]
