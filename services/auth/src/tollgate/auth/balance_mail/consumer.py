"""Consumer of ``balance.low`` and ``quota.exhausted``: a mail to each person who pays.

Usage announces each threshold once per period (through its outbox); the inbox row
written with this handler's transaction makes a redelivered event send nothing. The
mails go out once that transaction has committed, as the other mails of auth do: a
send that fails is logged, never retried into a second copy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.balance_mail.letters import Letter, exhausted_letter, low_balance_letter
from tollgate.auth.balance_mail.repository import payers_of
from tollgate.auth.mail.sender import Mailer
from tollgate.auth.models import User
from tollgate.shared.messaging import Envelope, Subscription
from tollgate.shared.messaging.events import BalanceLow, QuotaExhausted

__all__ = ["QUEUE", "subscriptions"]

log = logging.getLogger("tollgate.auth.balance_mail")

QUEUE = "auth.balance-alerts"

# Sends scheduled after a commit, kept referenced until they finish.
_sending: set[asyncio.Task[None]] = set()


def _after_commit(
    session: AsyncSession, sends: list[Callable[[], Coroutine[Any, Any, None]]]
) -> None:
    def on_commit(_session: object) -> None:
        loop = asyncio.get_running_loop()
        for send in sends:
            task = loop.create_task(send())
            _sending.add(task)
            task.add_done_callback(_sending.discard)

    event.listen(session.sync_session, "after_commit", on_commit, once=True)


def subscriptions(mailer: Mailer, web_url: str) -> list[Subscription]:
    async def on_balance_event(session: AsyncSession, envelope: Envelope) -> None:
        data = (BalanceLow if envelope.type == "balance.low" else QuotaExhausted).model_validate(
            envelope.data
        )
        payers = await payers_of(session, data.account_id)
        if not payers:
            log.info("%s for %s: nobody to tell", envelope.type, data.account_id)
            return
        organization = await session.get(User, data.account_id) is None

        def letter(name: str | None) -> Letter:
            if isinstance(data, BalanceLow):
                return low_balance_letter(
                    name, data.remaining, data.threshold, organization=organization, web_url=web_url
                )
            return exhausted_letter(name, organization=organization, web_url=web_url)

        def send(to: str, mail: Letter) -> Callable[[], Coroutine[Any, Any, None]]:
            return lambda: mailer.send(to, mail.subject, mail.body)

        _after_commit(session, [send(p.email, letter(p.name)) for p in payers])

    return [Subscription(QUEUE, ["balance.low", "quota.exhausted"], on_balance_event)]
