"""A deleted user's request log is erased when ``user.deleted`` arrives."""

from __future__ import annotations

import asyncio
import uuid

from llm_helpers import chat, logged
from llm_stack import Stack

from tollgate.shared.messaging import Broker
from tollgate.shared.messaging.events import UserDeleted, make_envelope


async def test_user_deleted_erases_only_that_users_request_log(fresh: Stack) -> None:
    leaving, leaving_token = fresh.user()
    staying, staying_token = fresh.user()
    for token in (leaving_token, staying_token):
        async with fresh.http(token) as http:
            assert (await http.post("/v1/chat/completions", json=chat("hi"))).status_code == 200
    assert len(await logged(fresh.engine, leaving)) == 1

    broker = Broker(fresh.app.state.settings.amqp_url)
    await broker.connect()
    envelope = make_envelope("auth", leaving, UserDeleted(user_id=leaving))
    await broker.publish(envelope)
    await broker.publish(envelope)  # a redelivery changes nothing
    await broker.close()

    for _ in range(250):
        if not await logged(fresh.engine, leaving):
            break
        await asyncio.sleep(0.02)
    assert await logged(fresh.engine, leaving) == []
    assert len(await logged(fresh.engine, staying)) == 1


async def test_an_unknown_user_deleted_is_harmless(fresh: Stack) -> None:
    broker = Broker(fresh.app.state.settings.amqp_url)
    await broker.connect()
    nobody = uuid.uuid4()
    await broker.publish(make_envelope("auth", nobody, UserDeleted(user_id=nobody)))
    await broker.close()
    await asyncio.sleep(0.2)
    async with fresh.http(fresh.user()[1]) as http:
        assert (await http.get("/readyz")).status_code == 200
