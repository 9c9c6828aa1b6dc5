"""What the usage tests share: the running service's handle, polling, small helpers.

Each test makes its own users (fresh UUIDs), so tests share the service without
sharing data. Tokens are minted with a test signing key served as a JWKS.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from usage_builders import subscription_changed

from tollgate.shared.messaging import Broker, make_envelope
from tollgate.shared.messaging.events import EventData
from tollgate.shared.testing import (
    SigningKey,
    test_amqp_url,
    test_database_url,
)
from tollgate.usage.config import Settings
from tollgate.usage.models import Account, Hold, LedgerEntry, UsageRecord

SERVICE_DIR = Path(__file__).resolve().parents[2]
DATABASE_URL = test_database_url("usage")
AMQP_URL = test_amqp_url("usage")
T = TypeVar("T")


@dataclass
class Usage:
    """The running service and what a test needs to talk to it."""

    app: FastAPI
    http: httpx.AsyncClient
    key: SigningKey
    broker: Broker
    settings: Settings

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        maker: async_sessionmaker[AsyncSession] = self.app.state.sessionmaker
        return maker

    def user_token(self, user_id: uuid.UUID, **claims: Any) -> str:
        return self.key.mint(user_id, **claims)

    def service_headers(self, user_token: str, client: str = "llm-proxy") -> dict[str, str]:
        service = self.key.mint(f"service:{client}", typ="service")
        return {"Authorization": f"Bearer {service}", "X-User-Token": user_token}

    async def reserve(self, user_token: str, **body: Any) -> httpx.Response:
        body.setdefault("request_id", uuid.uuid4().hex)
        body.setdefault("model", "gpt-4o-mini")
        body.setdefault("prompt_tokens", 100)
        return await self.http.post(
            "/internal/reservations", json=body, headers=self.service_headers(user_token)
        )

    async def balance(self, user_token: str) -> dict[str, Any]:
        response = await self.http.get(
            "/api/tokens/balance", headers={"Authorization": f"Bearer {user_token}"}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def publish(self, data: EventData, *, subject: Any = None, source: str = "test") -> Any:
        envelope = make_envelope(source, subject or uuid.uuid4(), data)
        await self.broker.publish(envelope)
        return envelope

    async def db(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.sessionmaker() as session, session.begin():
            return await work(session)


async def eventually(
    check: Callable[[], Awaitable[T]], *, timeout: float = 10.0, interval: float = 0.05
) -> T:
    """Poll until ``check`` returns a truthy value; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {value!r})")
        await asyncio.sleep(interval)


def now() -> datetime:
    return datetime.now(UTC)


async def give_plan(usage: Usage, account_id: uuid.UUID, tokens: int, **kw: object) -> None:
    """Put the account on a plan whose allocation is ``tokens``, through billing's event."""
    await usage.publish(
        subscription_changed(
            account_id,
            sequence=1,
            plan="custom",
            monthly_tokens=tokens,
            period_start=now(),
            **kw,  # type: ignore[arg-type]
        )
    )

    async def applied() -> bool:
        account = await usage.db(lambda s: s.get(Account, account_id))
        return account is not None and account.plan == "custom"

    await eventually(applied)


async def hold_status(usage: Usage, hold_id: str) -> str:
    hold = await usage.db(lambda s: s.get(Hold, uuid.UUID(hold_id)))
    assert hold is not None
    return hold.status


async def spent(usage: Usage, account_id: uuid.UUID) -> int:
    """Tokens debited from the account, summed from its ledger entries."""
    total = await usage.db(
        lambda s: s.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.account_id == account_id, LedgerEntry.kind == "spend"
            )
        )
    )
    return -int(total or 0)


async def recorded(usage: Usage, request_id: str) -> UsageRecord | None:
    return await usage.db(
        lambda s: s.scalar(select(UsageRecord).where(UsageRecord.request_id == request_id))
    )
