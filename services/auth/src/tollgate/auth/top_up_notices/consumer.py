"""Telling a person that billing turned their auto top-up off, by mail.

The mail is sent while the event's transaction is open: a crash before the commit
redelivers the event and sends it again. Twice the same notice is better than a
person left unaware that their balance will no longer be topped up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.accounts.repository import UserRepository
from tollgate.auth.config import Settings
from tollgate.auth.mail.sender import Mailer
from tollgate.shared.messaging import Envelope, Subscription
from tollgate.shared.messaging.events import AutoTopUpDisabled

log = logging.getLogger("tollgate.auth.top_up_notices")

QUEUE = "auth.top-up-notices"
SUBJECT = "Your auto top-up is off"


def notice(reason: str, credits_url: str) -> str:
    return (
        f"{reason}.\n\n"
        "Your balance will not be topped up by itself until you turn auto top-up on "
        f"again, with a card that works, here: {credits_url}\n"
    )


def subscriptions(settings: Settings, mailer: Callable[[], Mailer]) -> list[Subscription]:
    """``mailer`` is asked at delivery: the app builds its mailer when it starts."""
    credits_url = f"{settings.public_url.rstrip('/')}/billing/credits"

    async def handle(session: AsyncSession, envelope: Envelope) -> None:
        event = AutoTopUpDisabled.model_validate(envelope.data)
        user = await UserRepository(session).get(event.user_id)
        if user is None or not user.is_active or user.email is None:
            log.info("auto top-up notice for %s not sent: no such active user", event.user_id)
            return
        await mailer().send(user.email, SUBJECT, notice(event.reason.rstrip("."), credits_url))

    return [Subscription(QUEUE, [AutoTopUpDisabled.event_type], handle)]
