"""The app passes each person's address on to the gateway, which limits sign-ins by it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from tollgate.shared import testing
from tollgate.web.app import create_app
from tollgate.web.config import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def app() -> AsyncIterator[FastAPI]:
    settings = Settings(env="development", redis_url=testing.test_redis_url("web"))
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


def gateway_that_refuses(seen: list[httpx.Request]) -> httpx.AsyncClient:
    """A stand-in for the gateway that records each call and refuses the password."""

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(401, json={"detail": "Wrong email or password"})

    return httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://gateway")


async def sign_in_from(browser: httpx.AsyncClient, address: str) -> httpx.Response:
    headers = {"X-Forwarded-For": address}
    form = await browser.get("/sign-in", headers=headers)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    return await browser.post(
        "/sign-in",
        data={"csrf_token": token[1], "email": "ada@example.com", "password": "not it"},
        headers=headers,
    )


async def test_each_persons_sign_in_reaches_the_gateway_with_their_own_address(
    app: FastAPI,
) -> None:
    seen: list[httpx.Request] = []
    app.state.api.client = gateway_that_refuses(seen)
    transport = httpx.ASGITransport(app=app)
    for address in ("198.51.100.1", "198.51.100.2"):
        async with httpx.AsyncClient(transport=transport, base_url="http://web") as browser:
            refused = await sign_in_from(browser, address)
            assert refused.status_code == 401
            assert "Wrong email or password" in refused.text

    assert [r.url.path for r in seen] == ["/api/auth/login-json"] * 2
    assert [r.headers["x-forwarded-for"] for r in seen] == ["198.51.100.1", "198.51.100.2"]
