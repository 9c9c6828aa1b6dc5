"""Billing against the real PostgreSQL and RabbitMQ, with a Stripe stand-in and a test JWKS."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select

from tollgate.billing.app import create_app
from tollgate.billing.config import Settings
from tollgate.billing.customers.consumer import QUEUE
from tollgate.billing.members.consumer import QUEUE as MEMBERS_QUEUE
from tollgate.billing.models import Customer, OrgMember, Subscription
from tollgate.billing.topups.auto import QUEUE as TOP_UP_QUEUE
from tollgate.shared import testing
from tollgate.shared.messaging import EXCHANGE, Broker, make_envelope
from tollgate.shared.messaging.events import EventData, OrgMemberAdded, UserRegistered
from tollgate.standins.stripe import StripeStandIn

SERVICE_DIR = Path(__file__).resolve().parents[2]
DB_URL = testing.test_database_url("billing")
AMQP_URL = testing.test_amqp_url("billing")
WEBHOOK_SECRET = "whsec_current_test"
OLD_WEBHOOK_SECRET = "whsec_previous_test"
PRICES: dict[str, tuple[int, str] | tuple[int, str, str]] = {
    "price_pro_test": (2000, "usd"),
    "price_enterprise_test": (10000, "usd"),
    "price_pro_yearly_test": (20000, "usd", "year"),
}
EVENTS_QUEUE = "billing-tests.subscription-changed"


class EventTap:
    """Every subscription.changed billing published, as the other services receive it."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    def for_account(self, account_id: uuid.UUID) -> list[dict[str, Any]]:
        return [e["data"] for e in self.received if e["data"]["account_id"] == str(account_id)]

    async def wait_for(
        self, account_id: uuid.UUID, check: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        for _ in range(int(timeout / 0.05)):
            for data in self.for_account(account_id):
                if check(data):
                    return data
            await asyncio.sleep(0.05)
        raise AssertionError(f"no matching subscription.changed: {self.for_account(account_id)}")


@pytest.fixture(scope="session")
async def stripe_standin() -> AsyncIterator[StripeStandIn]:
    standin = StripeStandIn(PRICES, WEBHOOK_SECRET)
    await standin.start()
    yield standin
    await standin.stop()


@pytest.fixture(scope="session")
async def signing_key() -> AsyncIterator[tuple[testing.SigningKey, str]]:
    key = testing.SigningKey()
    async with testing.jwks_server(key) as (url, _):
        yield key, url


@pytest.fixture(scope="session")
async def tap() -> AsyncIterator[EventTap]:
    await testing.delete_queues(AMQP_URL, [QUEUE, MEMBERS_QUEUE, TOP_UP_QUEUE, EVENTS_QUEUE])
    tap = EventTap()
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(EVENTS_QUEUE, auto_delete=True)
    await queue.bind(exchange, "subscription.changed")

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            tap.received.append(json.loads(message.body))

    await queue.consume(on_message)
    yield tap
    await connection.close()


def settings_for(jwks_url: str, stripe_url: str) -> Settings:
    return Settings(
        database_url=DB_URL,
        amqp_url=AMQP_URL,
        jwks_url=jwks_url,
        stripe_api_key="sk_test_standin",
        stripe_api_base=stripe_url,
        stripe_webhook_secrets=f"{WEBHOOK_SECRET},{OLD_WEBHOOK_SECRET}",
        stripe_price_pro="price_pro_test",
        stripe_price_enterprise="price_enterprise_test",
        stripe_price_pro_yearly="price_pro_yearly_test",
        stripe_max_network_retries=0,
        renewal_interval_seconds=3600,
    )


@pytest.fixture(scope="session")
async def app(
    stripe_standin: StripeStandIn, signing_key: tuple[testing.SigningKey, str], tap: EventTap
) -> AsyncIterator[FastAPI]:
    await testing.reset_database(DB_URL, SERVICE_DIR)
    app = create_app(settings_for(signing_key[1], stripe_standin.url))
    async with LifespanManager(app):
        yield app


@pytest.fixture(scope="session")
async def client(app: FastAPI, stripe_standin: StripeStandIn) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://billing") as client:

        async def deliver(payload: bytes, headers: dict[str, str]) -> int:
            response = await client.post(
                "/api/billing/webhooks/stripe", content=payload, headers=headers
            )
            return response.status_code

        stripe_standin.deliver = deliver
        yield client


@pytest.fixture(scope="session")
async def broker() -> AsyncIterator[Broker]:
    broker = Broker(AMQP_URL)
    await broker.connect()
    yield broker
    await broker.close()


class Users:
    """Registers users the way auth does: a user.registered event on the broker."""

    def __init__(self, app: FastAPI, broker: Broker, key: testing.SigningKey) -> None:
        self.app, self.broker, self.key = app, broker, key

    async def register(self, *, org_id: uuid.UUID | None = None, twice: bool = False) -> uuid.UUID:
        user_id = uuid.uuid4()
        envelope = make_envelope(
            "auth",
            user_id,
            UserRegistered(
                user_id=user_id, email=f"{user_id.hex[:8]}@example.com", name="Ada", org_id=org_id
            ),
        )
        for _ in range(2 if twice else 1):
            await self.broker.publish(envelope)
        await self.wait_for_subscription(user_id)
        return user_id

    async def wait_for_subscription(self, user_id: uuid.UUID) -> None:
        for _ in range(200):
            if await self.subscription(user_id) is not None:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("user.registered was not applied")

    async def subscription(self, account_id: uuid.UUID) -> Subscription | None:
        async with self.app.state.sessionmaker() as session:
            result: Subscription | None = await session.get(Subscription, account_id)
            return result

    async def customer(self, user_id: uuid.UUID) -> Customer | None:
        async with self.app.state.sessionmaker() as session:
            result: Customer | None = await session.scalar(
                select(Customer).where(Customer.user_id == user_id)
            )
            return result

    async def announce(self, data: EventData, *, seconds_ago: float = 0) -> None:
        """An event from auth, made ``seconds_ago`` (however late it arrives)."""
        envelope = make_envelope("auth", uuid.uuid4(), data)
        if seconds_ago:
            then = envelope.occurred_at - timedelta(seconds=seconds_ago)
            envelope = envelope.model_copy(update={"occurred_at": then})
        await self.broker.publish(envelope)

    async def membership(self, org_id: uuid.UUID, user_id: uuid.UUID) -> OrgMember | None:
        async with self.app.state.sessionmaker() as session:
            return await session.get(OrgMember, (org_id, user_id))

    async def until_member(
        self, org_id: uuid.UUID, user_id: uuid.UUID, check: Callable[[OrgMember], bool]
    ) -> None:
        for _ in range(200):
            member = await self.membership(org_id, user_id)
            if member is not None and check(member):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"membership of {user_id} in {org_id} never matched")

    async def join(self, org_id: uuid.UUID, user_id: uuid.UUID, role: str = "member") -> None:
        """What auth announces when the user joins the organization, applied by billing."""
        await self.announce(OrgMemberAdded(org_id=org_id, user_id=user_id, role=role))
        await self.until_member(org_id, user_id, lambda m: m.active and m.role == role)

    def auth(self, user_id: uuid.UUID, *, role: str = "user", **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key.mint(user_id, role=role, **claims)}"}

    def admin(self) -> dict[str, str]:
        return self.auth(uuid.uuid4(), role="admin")


@pytest.fixture(scope="session")
async def users(app: FastAPI, broker: Broker, signing_key: tuple[testing.SigningKey, str]) -> Users:
    return Users(app, broker, signing_key[0])
