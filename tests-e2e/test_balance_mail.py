"""People are told: spending a balance down mails its owner once per threshold, then once
more when it runs out, with the links that get more credits."""

from __future__ import annotations

import asyncio
from email.message import Message
from typing import Any

import httpx
import pytest
from journeys import Person, balance, eventually, funded, register
from standins import MailSink

# These journeys spend a whole free allocation in one call and call again at once.
pytestmark = pytest.mark.usefixtures("free_plan_without_a_minute_limit")


LOW = "Your Tollgate balance is running low"
EXHAUSTED = "Your Tollgate credits are used up"


async def spend(gateway: httpx.AsyncClient, person: Person, prompt_tokens: int) -> None:
    """One call the stand-in reports as ``prompt_tokens`` prompt tokens, settled."""
    was = await balance(gateway, person)
    answer = await gateway.post(
        "/v1/chat/completions",
        headers=person.headers,
        json={
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": f"hi [[prompt:{prompt_tokens}]] [[words:1]]"}],
            "max_tokens": 4,
        },
    )
    assert answer.status_code == 200, answer.text
    await eventually(
        lambda: balance(gateway, person),
        lambda b: b["used_this_period"] > was["used_this_period"] and b["reserved"] == 0,
        what="the call settled",
    )


def mails(sink: MailSink, person: Person, subject: str) -> list[Message]:
    return [m for m in sink.messages if person.email in str(m["To"]) and m["Subject"] == subject]


async def mailed(sink: MailSink, person: Person, subject: str) -> list[Message]:
    """The mails with ``subject`` to the person, once one has arrived."""

    async def probe() -> list[Message]:
        return mails(sink, person, subject)

    return await eventually(probe, lambda found: len(found) > 0, what=subject)


def links_in(message: Message) -> set[str]:
    payload = message.get_payload(decode=True)
    text = payload.decode() if isinstance(payload, bytes) else str(payload)
    return {word for word in text.split() if word.startswith("http")}


async def test_spending_past_a_threshold_mails_once_and_running_out_mails_once(
    gateway: httpx.AsyncClient, outside: Any
) -> None:
    person = await register(gateway, "Spender")
    allocation = int((await funded(gateway, person))["allocation"])

    await spend(gateway, person, allocation * 85 // 100)
    assert (await balance(gateway, person))["available"] <= allocation * 20 // 100
    (low,) = await mailed(outside.mail, person, LOW)
    pages = {link.split("/", 3)[-1] for link in links_in(low)}
    assert pages == {"billing", "billing/credits", "usage"}

    await spend(gateway, person, 100)  # further down, still above the next threshold
    await spend(gateway, person, allocation)  # the rest, and more than is left
    assert (await balance(gateway, person))["available"] == 0
    assert len(await mailed(outside.mail, person, EXHAUSTED)) == 1
    await asyncio.sleep(1)  # time for a second copy of either to arrive, were there one
    assert len(mails(outside.mail, person, LOW)) == 1
    assert len(mails(outside.mail, person, EXHAUSTED)) == 1
