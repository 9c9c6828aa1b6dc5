"""A person whose auto top-up billing turned off (a declined card) is told by mail."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from auth_helpers import AMQP_URL, MailSink, register

from tollgate.shared.messaging import Broker, make_envelope
from tollgate.shared.messaging.events import AutoTopUpDisabled


async def announce(user_id: uuid.UUID, reason: str) -> None:
    broker = Broker(AMQP_URL)
    await broker.connect()
    try:
        event = AutoTopUpDisabled(
            account_id=user_id, user_id=user_id, pack_code="credits-1m", reason=reason
        )
        await broker.publish(make_envelope("billing", user_id, event))
    finally:
        await broker.close()


async def mails_to(sink: MailSink, address: str, timeout: float = 10.0) -> list[str]:
    for _ in range(int(timeout / 0.05)):
        found = [m for to, m in sink.messages if address in to]
        if found:
            return [f"{m['Subject']}\n{m.get_body(('plain',)).get_content()}" for m in found]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail reached {address}")


async def test_a_declined_card_that_turned_auto_top_up_off_is_mailed_to_the_person(
    client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    user = await register(client)

    await announce(uuid.UUID(user.id), "Auto top-up was turned off: Your card was declined.")

    [mail] = await mails_to(mail_sink, user.email)
    assert mail.startswith("Your auto top-up is off\n")
    assert "Your card was declined" in mail
    assert "/billing/credits" in mail
