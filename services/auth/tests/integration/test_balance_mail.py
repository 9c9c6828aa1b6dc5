"""Balance mail: usage's balance.low and quota.exhausted reach the people who pay, once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from email.message import Message

import httpx
import pytest
from auth_helpers import AMQP_URL, PASSWORD, MailSink, new_email, register

from tollgate.shared.messaging import Broker, Envelope, make_envelope
from tollgate.shared.messaging.events import BalanceLow, EventData, QuotaExhausted


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    broker = Broker(AMQP_URL)
    await broker.connect()
    try:
        yield broker
    finally:
        await broker.close()


async def publish(broker: Broker, data: EventData, account_id: uuid.UUID) -> Envelope:
    envelope = make_envelope("usage", account_id, data)
    await broker.publish(envelope)
    return envelope


async def mails_to(sink: MailSink, address: str, count: int, timeout: float = 5.0) -> list[Message]:
    """The messages sent to ``address`` once there are ``count``; then a moment more, so a
    duplicate would have had its chance to arrive."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if sink.count_to(address) >= count:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    return [m for recipients, m in sink.messages if address in recipients]


def text_of(message: Message) -> str:
    body = message.get_body(("plain",))  # type: ignore[attr-defined]
    return str(body.get_content()) if body is not None else ""


async def test_a_low_balance_is_mailed_once_to_the_account_owner_with_ways_to_get_more(
    client: httpx.AsyncClient, mail_sink: MailSink, broker: Broker
) -> None:
    person = await register(client)
    account = uuid.UUID(person.id)
    event = BalanceLow(account_id=account, remaining=9_500, threshold=10_000)
    envelope = await publish(broker, event, account)

    await broker.publish(envelope)  # the same event delivered again

    mails = await mails_to(mail_sink, person.email, 1)
    assert len(mails) == 1
    assert mails[0]["Subject"] == "Your Tollgate balance is running low"
    text = text_of(mails[0])
    assert "9,500 credits" in text
    links = {word.rsplit("/", 1)[-1] for word in text.split() if word.startswith("https://")}
    assert {"billing", "credits", "usage"} <= links


async def test_an_exhausted_organization_pool_is_mailed_to_its_owners_only(
    client: httpx.AsyncClient, mail_sink: MailSink, broker: Broker
) -> None:
    owner = await register(client)
    created = await client.post("/api/organizations", json={"name": "Acme"}, headers=owner.headers)
    assert created.status_code == 201, created.text
    org = uuid.UUID(created.json()["id"])
    member_email = new_email()
    invited = await client.post(
        f"/api/organizations/{org}/invitations", json={"email": member_email}, headers=owner.headers
    )
    assert invited.status_code == 201, invited.text
    member = await register(client, member_email)
    accepted = await client.post(
        "/api/organizations/invitations/accept",
        json={"token": await mail_sink.token_sent_to(member_email)},
        headers=member.headers,
    )
    assert accepted.status_code in (200, 201), accepted.text

    await publish(broker, QuotaExhausted(account_id=org, remaining=0), org)

    mails = await mails_to(mail_sink, owner.email, 1)
    assert [m["Subject"] for m in mails] == ["Your Tollgate credits are used up"]
    assert "organization's" in text_of(mails[0])
    assert mail_sink.count_to(member_email) == 1  # the invitation, and nothing since


async def test_a_sub_users_spending_is_mailed_to_nobody_but_the_parent(
    client: httpx.AsyncClient, mail_sink: MailSink, broker: Broker
) -> None:
    parent = await register(client)
    child_email = new_email()
    made = await client.post(
        "/api/sub-users",
        json={"email": child_email, "password": PASSWORD, "permissions": ["llm"]},
        headers=parent.headers,
    )
    assert made.status_code == 201, made.text

    # A sub-user spends from its parent's account: that is the account usage names.
    account = uuid.UUID(parent.id)
    await publish(broker, BalanceLow(account_id=account, remaining=10, threshold=100), account)

    assert len(await mails_to(mail_sink, parent.email, 1)) == 1
    assert mail_sink.count_to(child_email) == 0
