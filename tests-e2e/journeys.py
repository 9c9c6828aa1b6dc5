"""Small builders the journeys share: people, and waiting for what travels by event."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

T = TypeVar("T")
PASSWORD = "a long and unusual passphrase 42"


@dataclass
class Person:
    email: str
    access_token: str
    refresh_token: str
    user_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def register(gateway: httpx.AsyncClient, name: str = "Ada") -> Person:
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    response = await gateway.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Person(email, body["access_token"], body["refresh_token"], body["user"]["id"])


async def login(gateway: httpx.AsyncClient, email: str) -> Person:
    response = await gateway.post(
        "/api/auth/login-json", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return Person(email, body["access_token"], body["refresh_token"], body["user"]["id"])


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    timeout: float = 20.0,
    what: str = "condition",
) -> T:
    """Poll ``probe`` until its result satisfies ``until``: events take a moment."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if until(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not reached in {timeout}s; last: {value!r}")
        await asyncio.sleep(0.1)


async def balance(gateway: httpx.AsyncClient, person: Person) -> dict[str, Any]:
    response = await gateway.get("/api/tokens/balance", headers=person.headers)
    if response.status_code != 200:
        return {"status": response.status_code, "body": response.text}
    result: dict[str, Any] = response.json()
    return result


async def funded(gateway: httpx.AsyncClient, person: Person) -> dict[str, Any]:
    """The balance once the free allocation has arrived from the registration event."""
    return await eventually(
        lambda: balance(gateway, person),
        lambda b: int(b.get("allocation") or 0) > 0,
        what="free allocation",
    )


async def on_plan(
    gateway: httpx.AsyncClient, admin: dict[str, str], person: Person, plan: str
) -> dict[str, Any]:
    """An admin moves the person to ``plan``; returns the balance once usage has it and
    the gateway limits the person by it. Both learn it from the same event, each in its
    own time: a test that started calling once usage knew could meet the old plan's
    limits at the gateway."""
    moved = await gateway.put(
        f"/api/admin/users/{person.user_id}/plan", json={"plan": plan}, headers=admin
    )
    assert moved.status_code == 200, moved.text
    plans = (await gateway.get("/api/subscriptions/plans")).json()
    limit = str(next(p["limits"] for p in plans if p["code"] == plan)["requests_per_minute"])

    async def seen() -> dict[str, Any]:
        response = await gateway.get("/api/tokens/balance", headers=person.headers)
        found: dict[str, Any] = response.json() if response.status_code == 200 else {}
        return {**found, "gateway limit": response.headers.get("X-RateLimit-Limit")}

    return await eventually(
        seen,
        lambda b: b.get("plan") == plan and b["gateway limit"] == limit,
        what=f"{plan} plan at usage and at the gateway",
    )


@asynccontextmanager
async def edited_plan(
    gateway: httpx.AsyncClient, admin: dict[str, str], plan: str, **limits: Any
) -> AsyncIterator[None]:
    """An admin edits ``plan``'s limits for the duration; usage enforces them before it
    starts (a fresh person's limits show them), and the plan is put back after."""
    plans = (await gateway.get("/api/subscriptions/plans")).json()
    original = next(p["limits"] for p in plans if p["code"] == plan)
    edited = await gateway.put(
        f"/api/admin/plans/{plan}", json={"limits": {**original, **limits}}, headers=admin
    )
    assert edited.status_code == 200, edited.text
    try:
        witness = await register(gateway, "Witness")
        if plan != "free":
            await on_plan(gateway, admin, witness, plan)

        async def limits_now() -> dict[str, Any]:
            response = await gateway.get("/api/tokens/limits", headers=witness.headers)
            return dict(response.json().get("limits") or {}) if response.status_code == 200 else {}

        await eventually(
            limits_now,
            lambda seen: all(seen.get(k) == v for k, v in limits.items()),
            what=f"the {plan} plan's edited limits at usage",
        )
        yield
    finally:
        restored = await gateway.put(
            f"/api/admin/plans/{plan}", json={"limits": original}, headers=admin
        )
        assert restored.status_code == 200, restored.text
