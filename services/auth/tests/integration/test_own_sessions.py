"""A person lists their own sign-ins and ends one of them, and only their own."""

from __future__ import annotations

import httpx
import jwt
from auth_helpers import PASSWORD, EventTap, register


async def test_a_person_sees_each_sign_in_with_where_it_came_from_and_the_current_one_marked(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client)
    await client.post(
        "/api/auth/login-json",
        json={"email": user.email, "password": PASSWORD},
        headers={"User-Agent": "Firefox on a laptop"},
    )

    listed = await client.get("/api/auth/sessions", headers=user.headers)

    assert listed.status_code == 200, listed.text
    sessions = listed.json()
    assert len(sessions) == 2
    current_sid = jwt.decode(user.access, options={"verify_signature": False})["sid"]
    assert [s["id"] for s in sessions if s["current"]] == [current_sid]
    laptop = next(s for s in sessions if not s["current"])
    assert laptop["user_agent"] == "Firefox on a laptop"
    assert laptop["ip_address"]
    assert laptop["created_at"] and laptop["last_used_at"]


async def test_revoking_one_session_ends_its_tokens_and_tells_the_gateway_but_keeps_the_others(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client)
    other = (
        await client.post("/api/auth/login-json", json={"email": user.email, "password": PASSWORD})
    ).json()
    other_sid = jwt.decode(other["access_token"], options={"verify_signature": False})["sid"]

    async with EventTap(["auth.sessions_revoked"]) as tap:
        revoked = await client.delete(f"/api/auth/sessions/{other_sid}", headers=user.headers)
        event = await tap.wait_for(lambda e: e["data"]["session_id"] == other_sid)

    assert revoked.status_code == 204
    assert event["data"]["user_id"] == user.id
    other_headers = {"Authorization": f"Bearer {other['access_token']}"}
    assert (await client.get("/api/auth/me", headers=other_headers)).status_code == 401
    refresh = await client.post("/api/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert refresh.status_code == 401
    assert (await client.get("/api/auth/me", headers=user.headers)).status_code == 200
    remaining = (await client.get("/api/auth/sessions", headers=user.headers)).json()
    own_sid = jwt.decode(user.access, options={"verify_signature": False})["sid"]
    assert [s["id"] for s in remaining] == [own_sid]


async def test_another_persons_session_or_an_unknown_one_is_404_and_stays_alive(
    client: httpx.AsyncClient,
) -> None:
    owner, stranger = await register(client), await register(client)
    owner_sid = jwt.decode(owner.access, options={"verify_signature": False})["sid"]

    by_stranger = await client.delete(f"/api/auth/sessions/{owner_sid}", headers=stranger.headers)
    unknown = await client.delete(
        "/api/auth/sessions/00000000-0000-4000-8000-000000000000", headers=stranger.headers
    )
    malformed = await client.delete("/api/auth/sessions/not-a-uuid", headers=stranger.headers)

    assert by_stranger.status_code == 404
    assert unknown.status_code == 404
    assert malformed.status_code in (400, 422)
    assert (await client.get("/api/auth/me", headers=owner.headers)).status_code == 200
