from __future__ import annotations

import httpx
import jwt
from auth_helpers import EventTap, register, service_token


async def introspect(client: httpx.AsyncClient, key: str) -> httpx.Response:
    token = await service_token(client)
    return await client.post(
        "/internal/api-keys/introspect",
        json={"key": key},
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_a_key_is_created_introspected_and_revoked(client: httpx.AsyncClient) -> None:
    user = await register(client)
    created = await client.post(
        "/api/api-keys", json={"name": "laptop", "scopes": ["llm"]}, headers=user.headers
    )
    assert created.status_code == 201
    key = created.json()["key"]

    live = (await introspect(client, key)).json()

    assert live["active"] is True
    assert live["user_id"] == user.id and live["scopes"] == ["llm"]
    claims = jwt.decode(live["access_token"], options={"verify_signature": False})
    assert claims["sub"] == user.id
    assert claims["api_key_id"] == live["key_id"] == created.json()["id"]
    assert claims["scopes"] == ["llm"]
    # An llm-only key calls the models, not the account.
    me = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {live['access_token']}"}
    )
    assert me.status_code == 403

    async with EventTap(["apikey.revoked"]) as tap:
        revoked = await client.delete(f"/api/api-keys/{live['key_id']}", headers=user.headers)
        assert revoked.status_code == 204
        await tap.wait_for(lambda e: e["data"]["key_id"] == live["key_id"])

    assert (await introspect(client, key)).json() == {"active": False}


async def test_the_key_is_shown_once_and_listed_by_prefix_only(client: httpx.AsyncClient) -> None:
    user = await register(client)
    key = (await client.post("/api/api-keys", json={"name": "ci"}, headers=user.headers)).json()

    listed = (await client.get("/api/api-keys", headers=user.headers)).json()

    assert len(listed) == 1
    assert "key" not in listed[0]
    assert key["key"].startswith(listed[0]["prefix"]) and key["key"].endswith(
        listed[0]["last_four"]
    )
    assert listed[0]["scopes"] == ["llm", "read"]


async def test_a_mistyped_key_is_inactive(client: httpx.AsyncClient) -> None:
    user = await register(client)
    key = (await client.post("/api/api-keys", json={"name": "x"}, headers=user.headers)).json()[
        "key"
    ]
    typo = key[:10] + ("A" if key[10] != "A" else "B") + key[11:]

    assert (await introspect(client, typo)).json() == {"active": False}
    assert (await introspect(client, "tg_nonsense")).json() == {"active": False}


async def test_introspection_is_for_services_only(client: httpx.AsyncClient) -> None:
    user = await register(client)

    answer = await client.post(
        "/internal/api-keys/introspect", json={"key": "tg_x"}, headers=user.headers
    )

    assert answer.status_code == 403


async def test_last_use_is_recorded(client: httpx.AsyncClient) -> None:
    user = await register(client)
    key = (await client.post("/api/api-keys", json={"name": "x"}, headers=user.headers)).json()

    await introspect(client, key["key"])

    listed = (await client.get("/api/api-keys", headers=user.headers)).json()
    assert listed[0]["last_used_at"] is not None


async def test_unknown_scopes_are_refused(client: httpx.AsyncClient) -> None:
    user = await register(client)

    answer = await client.post(
        "/api/api-keys", json={"name": "x", "scopes": ["root"]}, headers=user.headers
    )

    assert answer.status_code == 422
    assert (await client.get("/api/api-keys", headers=user.headers)).json() == []


async def test_someone_elses_key_cannot_be_revoked(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    other = await register(client)
    key = (await client.post("/api/api-keys", json={"name": "x"}, headers=owner.headers)).json()

    answer = await client.delete(f"/api/api-keys/{key['id']}", headers=other.headers)

    assert answer.status_code == 404
    assert (await introspect(client, key["key"])).json()["active"] is True


async def test_a_key_is_renamed_and_rescoped_without_being_revoked(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client)
    key = (await client.post("/api/api-keys", json={"name": "old"}, headers=user.headers)).json()

    async with EventTap(["apikey.scopes_changed"]) as tap:
        changed = await client.put(
            f"/api/api-keys/{key['id']}",
            json={"name": "new", "scopes": ["read"]},
            headers=user.headers,
        )
        # The gateway learns of it by event and stops honouring the old scopes.
        event = await tap.wait_for(lambda e: e["data"]["key_id"] == key["id"])

    assert event["data"]["scopes"] == ["read"]
    assert changed.status_code == 200
    assert changed.json()["name"] == "new"
    live = (await introspect(client, key["key"])).json()
    assert live["active"] is True and live["scopes"] == ["read"]


async def test_an_expiring_key_gets_tokens_no_longer_than_its_own_life(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client)
    key = (
        await client.post(
            "/api/api-keys", json={"name": "temp", "expires_in_days": 1}, headers=user.headers
        )
    ).json()

    live = (await introspect(client, key["key"])).json()

    assert key["expires_at"] is not None
    assert live["active"] is True and live["expires_in"] <= 900


async def test_a_key_with_read_scope_reads_but_never_manages_credentials(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client)
    key = (await client.post("/api/api-keys", json={"name": "ci"}, headers=user.headers)).json()
    token = (await introspect(client, key["key"])).json()["access_token"]
    as_key = {"Authorization": f"Bearer {token}"}

    me = await client.get("/api/auth/me", headers=as_key)
    another_key = await client.post("/api/api-keys", json={"name": "x"}, headers=as_key)
    revoke_itself = await client.delete(f"/api/api-keys/{key['id']}", headers=as_key)
    validate = await client.post(
        "/api/vscode/session/validate",
        json={"machine_id": "ci-box", "extension_version": "1.0.0"},
        headers=as_key,
    )

    assert me.status_code == 200 and me.json()["id"] == user.id
    assert another_key.status_code == 403
    assert another_key.json()["type"].endswith("interactive-only")
    assert revoke_itself.status_code == 403
    assert validate.status_code == 200
    # Once the owner revokes the key, its tokens stop working here at once.
    await client.delete(f"/api/api-keys/{key['id']}", headers=user.headers)
    assert (await client.get("/api/auth/me", headers=as_key)).status_code == 401
