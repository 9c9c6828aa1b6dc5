from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
from auth_helpers import AMQP_URL, PASSWORD, EventTap, auth_settings, new_email, register

from tollgate.auth.cli import create_superadmin
from tollgate.shared.messaging import Broker, make_envelope
from tollgate.shared.messaging.events import SubscriptionChanged


async def announce_plan(user_id: str, plan: str, sequence: int) -> None:
    broker = Broker(AMQP_URL)
    await broker.connect()
    now = datetime.now(UTC)
    try:
        await broker.publish(
            make_envelope(
                "billing",
                user_id,
                SubscriptionChanged(
                    account_id=uuid.UUID(user_id),
                    user_id=uuid.UUID(user_id),
                    plan=plan,
                    status="active",
                    current_period_start=now,
                    current_period_end=now + timedelta(days=30),
                    monthly_tokens=5_000_000,
                    limits={"allowed_models": ["*"], "requests_per_minute": 600},
                    sequence=sequence,
                ),
            )
        )
    finally:
        await broker.close()


async def tier_of(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    return str((await client.get("/api/auth/me", headers=headers)).json()["subscription_tier"])


async def wait_for_tier(client: httpx.AsyncClient, headers: dict[str, str], tier: str) -> None:
    for _ in range(100):
        if await tier_of(client, headers) == tier:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"tier never became {tier}")


async def test_a_plan_change_from_billing_reaches_the_tokens(client: httpx.AsyncClient) -> None:
    user = await register(client)

    await announce_plan(user.id, "pro", sequence=2)
    await wait_for_tier(client, user.headers, "pro")

    login = await client.post(
        "/api/auth/login-json", json={"email": user.email, "password": PASSWORD}
    )
    assert login.json()["user"]["subscription_tier"] == "pro"
    claims = jwt.decode(login.json()["access_token"], options={"verify_signature": False})
    assert claims["plan"] == "pro"


async def test_a_late_older_plan_event_does_not_undo_a_newer_one(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client)
    await announce_plan(user.id, "enterprise", sequence=5)
    await wait_for_tier(client, user.headers, "enterprise")

    await announce_plan(user.id, "free", sequence=4)
    await announce_plan(user.id, "pro", sequence=6)

    await wait_for_tier(client, user.headers, "pro")


async def test_vscode_config_tells_the_extension_where_and_what(client: httpx.AsyncClient) -> None:
    user = await register(client)

    config = (await client.get("/api/auth/vscode-config", headers=user.headers)).json()

    assert config["gateway_url"] == "https://gateway.example.test"
    assert config["openai_base_url"] == "https://gateway.example.test/v1"
    assert config["plan"] == "free"
    assert config["models"] is None  # the proxy did not answer: no guess from the plan's list
    assert config["sign_in_methods"] == {
        "password": True,
        "device_code": True,
        "oauth_providers": ["github", "google"],
    }
    assert config["limits"]["llm_requests_per_minute"] == 10


async def test_anyone_can_learn_the_enabled_sign_in_methods_before_signing_in(
    client: httpx.AsyncClient,
) -> None:
    methods = await client.get("/api/auth/sign-in-methods")

    assert methods.status_code == 200
    assert methods.json()["oauth_providers"] == ["github", "google"]


async def test_validating_a_vscode_session_records_then_refreshes_the_machine(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client)
    body = {"machine_id": "machine-1", "extension_version": "1.2.0"}

    first = await client.post("/api/vscode/session/validate", json=body, headers=user.headers)
    second = await client.post(
        "/api/vscode/session/validate",
        json={**body, "extension_version": "1.3.0"},
        headers=user.headers,
    )

    assert first.status_code == second.status_code == 200
    assert first.json()["session"]["id"] == second.json()["session"]["id"]
    listed = (await client.get("/api/vscode/session", headers=user.headers)).json()
    assert [s["extension_version"] for s in listed] == ["1.3.0"]


async def test_signing_a_vscode_machine_out_ends_its_session(client: httpx.AsyncClient) -> None:
    user = await register(client)
    record = await client.post(
        "/api/vscode/session/validate",
        json={"machine_id": "m", "extension_version": "1.0.0"},
        headers=user.headers,
    )

    gone = await client.delete(
        f"/api/vscode/session/{record.json()['session']['id']}", headers=user.headers
    )

    assert gone.status_code == 204
    assert (await client.get("/api/auth/me", headers=user.headers)).status_code == 401


async def test_admin_routes_refuse_ordinary_users(client: httpx.AsyncClient) -> None:
    user = await register(client)

    answer = await client.get("/api/admin/users", headers=user.headers)

    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"


async def superadmin(client: httpx.AsyncClient) -> dict[str, str]:
    email = new_email()
    await create_superadmin(auth_settings(), email, PASSWORD, "Root")
    login = await client.post("/api/auth/login-json", json={"email": email, "password": PASSWORD})
    assert login.json()["user"]["role"] == "superadmin"
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def test_a_superadmin_from_the_cli_finds_and_disables_a_user(
    client: httpx.AsyncClient,
) -> None:
    admin = await superadmin(client)
    user = await register(client)

    found = await client.get("/api/admin/users", params={"q": user.email}, headers=admin)
    assert [u["id"] for u in found.json()] == [user.id]

    async with EventTap(["auth.sessions_revoked", "user.updated"]) as tap:
        disabled = await client.put(
            f"/api/admin/users/{user.id}", json={"is_active": False}, headers=admin
        )
        assert disabled.status_code == 200
        revoked = await tap.wait_for(
            lambda e: e["data"].get("user_id") == user.id and e["type"] == "auth.sessions_revoked"
        )
        await tap.wait_for(
            lambda e: (
                e["type"] == "user.updated"
                and e["data"]["user_id"] == user.id
                and e["data"]["is_active"] is False
            )
        )

    assert revoked["data"]["session_id"] is None
    assert (await client.get("/api/auth/me", headers=user.headers)).status_code == 401
    login = await client.post(
        "/api/auth/login-json", json={"email": user.email, "password": PASSWORD}
    )
    assert login.status_code == 401


async def test_an_admin_sees_a_users_sessions_and_keys(client: httpx.AsyncClient) -> None:
    admin = await superadmin(client)
    user = await register(client)
    await client.post("/api/api-keys", json={"name": "k"}, headers=user.headers)

    sessions = await client.get(f"/api/admin/users/{user.id}/sessions", headers=admin)
    keys = await client.get(f"/api/admin/users/{user.id}/api-keys", headers=admin)

    assert len(sessions.json()) == 1
    assert [k["name"] for k in keys.json()] == ["k"]


async def test_a_deleted_account_cannot_sign_in_and_is_announced(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client)

    async with EventTap(["user.deleted"]) as tap:
        gone = await client.request(
            "DELETE", "/api/users/account", json={"password": PASSWORD}, headers=user.headers
        )
        assert gone.status_code == 204
        await tap.wait_for(lambda e: e["data"]["user_id"] == user.id)

    login = await client.post(
        "/api/auth/login-json", json={"email": user.email, "password": PASSWORD}
    )
    assert login.status_code == 401
    # The address is free again: its owner's personal data is gone.
    await register(client, user.email)


async def test_demoting_an_admin_ends_their_sessions(client: httpx.AsyncClient) -> None:
    root = await superadmin(client)
    user = await register(client)
    await client.put(f"/api/admin/users/{user.id}", json={"role": "admin"}, headers=root)
    login = await client.post(
        "/api/auth/login-json", json={"email": user.email, "password": PASSWORD}
    )
    as_admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert (await client.get("/api/admin/users", headers=as_admin)).status_code == 200

    await client.put(f"/api/admin/users/{user.id}", json={"role": "user"}, headers=root)

    assert (await client.get("/api/admin/users", headers=as_admin)).status_code == 401


async def test_an_admin_cannot_make_anyone_superadmin(client: httpx.AsyncClient) -> None:
    root = await superadmin(client)
    admin_user = await register(client)
    await client.put(f"/api/admin/users/{admin_user.id}", json={"role": "admin"}, headers=root)
    login = await client.post(
        "/api/auth/login-json", json={"email": admin_user.email, "password": PASSWORD}
    )
    as_admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
    victim = await register(client)

    answer = await client.put(
        f"/api/admin/users/{victim.id}", json={"role": "superadmin"}, headers=as_admin
    )

    assert answer.status_code == 403


async def test_an_organization_plan_reaches_its_members(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    created = await client.post("/api/organizations", json={"name": "Org"}, headers=owner.headers)
    org_id = created.json()["id"]

    await announce_plan(org_id, "enterprise", sequence=1)

    await wait_for_tier(client, owner.headers, "enterprise")
    refreshed = await client.post("/api/auth/refresh", json={"refresh_token": owner.refresh})
    claims = jwt.decode(refreshed.json()["access_token"], options={"verify_signature": False})
    assert claims["plan"] == "enterprise" and claims["org"] == org_id
