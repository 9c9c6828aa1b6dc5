from __future__ import annotations

import httpx
from asgi_lifespan import LifespanManager
from auth_helpers import PASSWORD, auth_settings, new_email

from tollgate.auth.app import create_app
from tollgate.shared.testing import free_port


async def test_sign_in_fails_closed_with_503_when_redis_is_down() -> None:
    # Throttling cannot be checked, so nobody signs in; the answer says why and when.
    app = create_app(auth_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    async with LifespanManager(app, startup_timeout=30):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://auth.test") as client:
            login = await client.post(
                "/api/auth/login-json", json={"email": new_email(), "password": PASSWORD}
            )
            ready = await client.get("/readyz")

    assert login.status_code == 503
    assert login.headers["content-type"] == "application/problem+json"
    assert login.headers["Retry-After"] == "5"
    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"].startswith("failing")
