from __future__ import annotations

import asyncio
import uuid

import httpx
import jwt
from auth_helpers import PASSWORD, EventTap, new_email, register


async def test_register_login_me_refresh_logout(client: httpx.AsyncClient) -> None:
    email = new_email()
    await register(client, email)

    login = await client.post("/api/auth/login-json", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200
    tokens = login.json()
    me = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.json()["email"] == email
    refreshed = await client.post(
        "/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200
    new_access = refreshed.json()["access_token"]
    logout = await client.post(
        "/api/auth/logout", headers={"Authorization": f"Bearer {new_access}"}
    )

    assert logout.status_code == 204
    after = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {new_access}"})
    assert after.status_code == 401
    refresh_after = await client.post(
        "/api/auth/refresh", json={"refresh_token": refreshed.json()["refresh_token"]}
    )
    assert refresh_after.status_code == 401


async def test_login_json_answers_in_the_shape_the_extension_reads(
    client: httpx.AsyncClient,
) -> None:
    email = new_email()
    await register(client, email)

    body = (
        await client.post("/api/auth/login-json", json={"email": email, "password": PASSWORD})
    ).json()

    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["refresh_token"].startswith("rt_")
    assert body["api_endpoint"] == "https://gateway.example.test"
    user = body["user"]
    assert {"id", "email", "name", "role", "subscription_tier", "monthly_usage"} <= set(user)
    assert user["subscription_tier"] == "free"
    assert user["monthly_usage"] is None  # usage did not answer: unknown, not a made-up zero


async def test_the_access_token_carries_the_design_claims(client: httpx.AsyncClient) -> None:
    user = await register(client)

    claims = jwt.decode(user.access, options={"verify_signature": False})

    assert claims["sub"] == user.id
    assert claims["typ"] == "access"
    assert claims["role"] == "user" and claims["plan"] == "free"
    assert uuid.UUID(claims["sid"])
    assert claims["exp"] - claims["iat"] == 900
    assert {"iss", "aud", "jti", "org", "parent", "scopes", "api_key_id"} <= set(claims)


async def test_the_oauth2_password_form_signs_in_too(client: httpx.AsyncClient) -> None:
    email = new_email()
    await register(client, email)

    response = await client.post("/api/auth/login", data={"username": email, "password": PASSWORD})

    assert response.status_code == 200
    assert response.json()["access_token"]


async def test_a_replayed_refresh_token_revokes_the_session(client: httpx.AsyncClient) -> None:
    user = await register(client)
    first = await client.post("/api/auth/refresh", json={"refresh_token": user.refresh})
    assert first.status_code == 200
    await asyncio.sleep(1.2)  # past the concurrent-refresh grace of the test settings

    async with EventTap(["auth.sessions_revoked"]) as tap:
        replay = await client.post("/api/auth/refresh", json={"refresh_token": user.refresh})

        assert replay.status_code == 401
        assert replay.json()["type"].endswith("refresh-token-reused")
        # The thief's copy and the rightful successor are both dead now.
        successor = await client.post(
            "/api/auth/refresh", json={"refresh_token": first.json()["refresh_token"]}
        )
        assert successor.status_code == 401
        sid = jwt.decode(user.access, options={"verify_signature": False})["sid"]
        await tap.wait_for(lambda e: e["data"]["session_id"] == sid)


async def test_two_concurrent_refreshes_do_not_log_the_client_out(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client)

    a, b = await asyncio.gather(
        client.post("/api/auth/refresh", json={"refresh_token": user.refresh}),
        client.post("/api/auth/refresh", json={"refresh_token": user.refresh}),
    )

    assert (a.status_code, b.status_code) == (200, 200)
    for response in (a, b):
        again = await client.post(
            "/api/auth/refresh", json={"refresh_token": response.json()["refresh_token"]}
        )
        assert again.status_code == 200


async def test_logout_is_announced_on_the_bus(client: httpx.AsyncClient) -> None:
    user = await register(client)
    sid = jwt.decode(user.access, options={"verify_signature": False})["sid"]

    async with EventTap(["auth.sessions_revoked"]) as tap:
        await client.post("/api/auth/logout", headers=user.headers)
        event = await tap.wait_for(lambda e: e["data"]["session_id"] == sid)

    assert event["source"] == "auth"
    assert event["data"]["user_id"] == user.id
    assert event["data"]["not_before"]


async def test_logout_everywhere_ends_every_session(client: httpx.AsyncClient) -> None:
    user = await register(client)
    second = await client.post(
        "/api/auth/login-json", json={"email": user.email, "password": PASSWORD}
    )

    await client.post("/api/auth/logout", json={"all": True}, headers=user.headers)

    other = {"Authorization": f"Bearer {second.json()['access_token']}"}
    assert (await client.get("/api/auth/me", headers=other)).status_code == 401
    assert (await client.get("/api/auth/me", headers=user.headers)).status_code == 401


async def test_registration_is_announced_with_the_new_user(client: httpx.AsyncClient) -> None:
    async with EventTap(["user.registered"]) as tap:
        user = await register(client)
        event = await tap.wait_for(lambda e: e["data"]["user_id"] == user.id)

    assert event["data"]["email"] == user.email
    assert event["data"]["parent_user_id"] is None


async def test_changing_the_password_signs_out_the_other_sessions(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client)
    other = await client.post(
        "/api/auth/login-json", json={"email": user.email, "password": PASSWORD}
    )
    new_password = "a much better passphrase"

    changed = await client.post(
        "/api/auth/password/change",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=user.headers,
    )

    assert changed.status_code == 204
    assert (await client.get("/api/auth/me", headers=user.headers)).status_code == 200
    other_headers = {"Authorization": f"Bearer {other.json()['access_token']}"}
    assert (await client.get("/api/auth/me", headers=other_headers)).status_code == 401
    old = await client.post(
        "/api/auth/login-json", json={"email": user.email, "password": PASSWORD}
    )
    assert old.status_code == 401
    new = await client.post(
        "/api/auth/login-json", json={"email": user.email, "password": new_password}
    )
    assert new.status_code == 200


async def test_a_client_with_an_expired_access_token_signs_out_by_refresh_token(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client)

    gone = await client.post(
        "/api/auth/logout",
        json={"refresh_token": user.refresh},
        headers={"Authorization": "Bearer expired.or.garbage"},
    )

    assert gone.status_code == 204
    assert (await client.get("/api/auth/me", headers=user.headers)).status_code == 401
    refreshed = await client.post("/api/auth/refresh", json={"refresh_token": user.refresh})
    assert refreshed.status_code == 401


async def test_logout_without_any_token_is_refused(client: httpx.AsyncClient) -> None:
    answer = await client.post("/api/auth/logout")

    assert answer.status_code == 401


async def test_the_client_address_is_the_one_the_gateway_appended(
    client: httpx.AsyncClient,
) -> None:
    # An attacker cannot dodge the per-address throttle by forging X-Forwarded-For:
    # only the last entry, appended by the gateway, counts.
    statuses = []
    for n in range(21):
        answer = await client.post(
            "/api/auth/login-json",
            json={"email": new_email(), "password": "guess guess guess"},
            headers={"X-Forwarded-For": f"10.0.0.{n}, 198.51.100.7"},
        )
        statuses.append(answer.status_code)

    assert statuses[-1] == 429
