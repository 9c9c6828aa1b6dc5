"""Writing auth's integration events into the outbox, inside the caller's transaction."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.models import messaging
from tollgate.shared.messaging import add_event
from tollgate.shared.messaging.events import EventData

SOURCE = "auth"


async def publish(db: AsyncSession, subject: uuid.UUID | str, data: EventData) -> None:
    await add_event(db, messaging.outbox, SOURCE, subject, data)
