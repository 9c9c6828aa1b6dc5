"""Outbox and inbox tables, and writing events inside the business transaction.

Two ways in, one table: ``add_event`` for a transaction on an SQLAlchemy session,
``add_outbox_rows`` for a batch on a plain asyncpg connection (a hot writer that
commits many events at once), whose statement (``outbox_insert``) can also end a
statement of the writer's own, as llm-proxy's call recorder does. All write the
columns this module declares; the relay reads nothing else.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    event,
    func,
    insert,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.messaging.broker import current_trace_headers
from tollgate.shared.messaging.events import Envelope, EventData, make_envelope

__all__ = [
    "MessagingTables",
    "OutboxRow",
    "add_event",
    "add_outbox_rows",
    "messaging_tables",
    "on_outbox_commit",
    "outbox_insert",
    "outbox_row",
]


@dataclass(frozen=True)
class MessagingTables:
    outbox: Table
    inbox: Table


def messaging_tables(metadata: MetaData) -> MessagingTables:
    """Declare ``outbox`` and ``inbox`` in a service's metadata (each service has its own)."""
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        Column("event_type", String(100), nullable=False),
        Column("body", Text, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column(
            "next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()
        ),
        Column("last_error", Text),
        Index(
            "ix_outbox_pending",
            "next_attempt_at",
            postgresql_where=text("published_at IS NULL"),
        ),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", String(200), nullable=False),
        Column("message_id", String(200), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "message_id"),
    )
    return MessagingTables(outbox, inbox)


# Relays in this process, woken when a transaction that wrote to the outbox commits,
# so events leave within milliseconds instead of waiting for the next poll.
_commit_listeners: list[Callable[[], None]] = []


def on_outbox_commit(listener: Callable[[], None]) -> Callable[[], None]:
    _commit_listeners.append(listener)

    def remove() -> None:
        if listener in _commit_listeners:
            _commit_listeners.remove(listener)

    return remove


def _notify(_session: Any) -> None:
    for listener in list(_commit_listeners):
        listener()


async def add_event(
    session: AsyncSession,
    outbox: Table,
    source: str,
    subject: Any,
    data: EventData,
) -> Envelope:
    """Write an event in the caller's transaction: it is published only if that commits."""
    envelope = make_envelope(source, subject, data)
    await session.execute(
        insert(outbox).values(
            event_id=envelope.id,
            event_type=envelope.type,
            body=envelope.model_dump_json(),
            headers=json.loads(json.dumps(current_trace_headers())),
        )
    )
    sync_session = session.sync_session
    if not event.contains(sync_session, "after_commit", _notify):
        event.listen(sync_session, "after_commit", _notify, once=True)
    return envelope


# event_id, event_type, body (the envelope's JSON), headers (JSON of the AMQP headers)
OutboxRow = tuple[uuid.UUID, str, str, str]


def outbox_insert(first: int = 1, *, only_keys_in: str | None = None) -> str:
    """The outbox's insert of whole columns as arrays (``OutboxRow``'s four, parameters
    numbered from ``first``): one text whatever the batch size, so asyncpg prepares it
    once per connection.

    With ``only_keys_in`` (a relation with a ``key`` column, e.g. a ``WITH`` query's
    ``RETURNING``), a fifth array gives each event a key, and only events whose key is
    in that relation are written: the end of one statement that also writes what the
    events tell of, so both commit together in a single round trip.
    """
    columns = ", ".join(
        f"${first + i}::{kind}[]" for i, kind in enumerate(("uuid", "varchar", "text", "text"))
    )
    insert = "INSERT INTO outbox (event_id, event_type, body, headers) SELECT e, t, b, h::jsonb"
    if only_keys_in is None:
        return f"{insert} FROM unnest({columns}) AS v(e, t, b, h)"
    keyed = f"{insert} FROM unnest({columns}, ${first + 4}::text[]) AS v(e, t, b, h, k)"
    return f"{keyed} WHERE k IN (SELECT key FROM {only_keys_in})"  # noqa: S608 - our own name


_ADD_ROWS = outbox_insert()


def outbox_row(envelope: Envelope) -> OutboxRow:
    """The event as an outbox row; call it in the event's own context, for its trace."""
    return (
        envelope.id,
        envelope.type,
        envelope.model_dump_json(),
        orjson.dumps(current_trace_headers()).decode(),
    )


async def add_outbox_rows(connection: asyncpg.Connection, rows: list[OutboxRow]) -> None:
    """Events in the caller's transaction on ``connection``: published only if it commits.

    Nothing here wakes the relay: the caller does, once its transaction has committed
    (``OutboxRelay.wake``), or the relay finds the rows at its next poll.
    """
    if rows:
        await connection.execute(_ADD_ROWS, *(list(column) for column in zip(*rows, strict=True)))
