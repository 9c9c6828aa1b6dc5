"""Error pages keep the person's own session: they never hand out another one."""

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
async def session_app() -> AsyncIterator[FastAPI]:
    settings = Settings(env="development", redis_url=testing.test_redis_url("web"))
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


async def test_a_missing_page_beside_a_form_leaves_the_forms_session_alone(
    session_app: FastAPI,
) -> None:
    # Chromium asks for /favicon.ico while the person fills the sign-in form: the 404
    # must not hand out a new session, or the form's CSRF token no longer matches.
    transport = httpx.ASGITransport(app=session_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://web") as browser:
        form = await browser.get("/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        cookie = browser.cookies["tollgate_session"]
        missing = await browser.get("/favicon.ico")
        assert missing.status_code == 404
        assert "set-cookie" not in missing.headers
        assert browser.cookies["tollgate_session"] == cookie
        sent = await browser.post("/sign-in", data={"csrf_token": token[1], "email": "x"})
        assert "This form has expired" not in sent.text
