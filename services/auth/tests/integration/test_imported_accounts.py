"""Accounts and organizations moved in from another backend, by a superadmin, once."""

from __future__ import annotations

import uuid
from typing import Any

import bcrypt
import httpx
from auth_helpers import PASSWORD, EventTap, auth_settings, new_email, register

from tollgate.auth.cli import create_superadmin


async def superadmin(client: httpx.AsyncClient) -> dict[str, str]:
    email = new_email()
    await create_superadmin(auth_settings(), email, PASSWORD, "Root")
    login = await client.post("/api/auth/login-json", json={"email": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def account(**changes: Any) -> dict[str, Any]:
    return {
        "source": "old/users",
        "source_id": uuid.uuid4().hex,
        "email": new_email(),
        "name": "Moved In",
        "password_hash": bcrypt.hashpw(b"old secret 1", bcrypt.gensalt(rounds=4)).decode(),
        **changes,
    }


async def test_an_imported_account_is_announced_once_as_imported_and_signs_in(
    client: httpx.AsyncClient,
) -> None:
    root = await superadmin(client)
    body = account(email_verified=True)

    async with EventTap(["user.registered"]) as tap:
        first = await client.post("/api/admin/imports/users", json=body, headers=root)
        again = await client.post("/api/admin/imports/users", json=body, headers=root)
        event = await tap.wait_for(lambda e: e["data"]["user_id"] == first.json()["id"])

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert event["data"]["imported"] is True
    assert len([e for e in tap.events if e["data"]["user_id"] == first.json()["id"]]) == 1
    login = await client.post(
        "/api/auth/login-json", json={"email": body["email"], "password": "old secret 1"}
    )
    assert login.status_code == 200, login.text
    assert login.json()["user"]["email_verified"] is True


async def test_bad_accounts_are_refused_with_a_clear_4xx(client: httpx.AsyncClient) -> None:
    root = await superadmin(client)
    taken = await register(client)

    duplicate = await client.post(
        "/api/admin/imports/users", json=account(email=taken.email), headers=root
    )
    plain = await client.post(
        "/api/admin/imports/users", json=account(password_hash="hunter2"), headers=root
    )
    orphan = await client.post(
        "/api/admin/imports/users", json=account(parent_id=str(uuid.uuid4())), headers=root
    )
    as_user = await client.post("/api/admin/imports/users", json=account(), headers=taken.headers)

    assert duplicate.status_code == 409 and duplicate.json()["type"].endswith("/email-taken")
    assert plain.status_code == 422 and "password_hash" in plain.json()["detail"]
    assert orphan.status_code == 422 and orphan.json()["type"].endswith("/dangling-reference")
    assert as_user.status_code == 403


async def test_an_imported_organization_gets_its_members_and_their_sub_users_stay_out(
    client: httpx.AsyncClient,
) -> None:
    root = await superadmin(client)
    owner = (await client.post("/api/admin/imports/users", json=account(), headers=root)).json()
    sub = await client.post(
        "/api/admin/imports/users",
        json=account(parent_id=owner["id"], token_limit=5000, permissions=["chat"]),
        headers=root,
    )
    org_body = {"source": "old/organizations", "source_id": uuid.uuid4().hex, "name": "Acme"}
    org = (
        await client.post("/api/admin/imports/organizations", json=org_body, headers=root)
    ).json()
    members = f"/api/admin/imports/organizations/{org['id']}/members"

    joined = await client.put(f"{members}/{owner['id']}", json={"role": "owner"}, headers=root)
    rejoined = await client.put(f"{members}/{owner['id']}", json={"role": "owner"}, headers=root)
    sub_joins = await client.put(f"{members}/{sub.json()['id']}", json={}, headers=root)
    elsewhere = (
        await client.post(
            "/api/admin/imports/organizations",
            json=org_body | {"source_id": "other"},
            headers=root,
        )
    ).json()
    twice = await client.put(
        f"/api/admin/imports/organizations/{elsewhere['id']}/members/{owner['id']}",
        json={},
        headers=root,
    )

    assert (joined.status_code, rejoined.status_code) == (201, 200)
    assert sub.status_code == 201
    assert sub_joins.status_code == 422
    assert twice.status_code == 409
