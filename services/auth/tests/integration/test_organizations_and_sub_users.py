from __future__ import annotations

import httpx
import jwt
from auth_helpers import PASSWORD, EventTap, MailSink, SignedInUser, new_email, register


async def organization(client: httpx.AsyncClient, owner: SignedInUser) -> str:
    created = await client.post("/api/organizations", json={"name": "Acme"}, headers=owner.headers)
    assert created.status_code == 201
    assert created.json()["role"] == "owner"
    return str(created.json()["id"])


async def test_an_invitation_is_accepted_and_the_member_announced(
    client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    owner = await register(client)
    org_id = await organization(client, owner)
    invitee_email = new_email()

    invited = await client.post(
        f"/api/organizations/{org_id}/invitations",
        json={"email": invitee_email, "role": "member"},
        headers=owner.headers,
    )
    assert invited.status_code == 201
    token = await mail_sink.token_sent_to(invitee_email)
    invitee = await register(client, invitee_email)

    async with EventTap(["org.member_added"]) as tap:
        accepted = await client.post(
            "/api/organizations/invitations/accept", json={"token": token}, headers=invitee.headers
        )
        assert accepted.status_code == 200
        event = await tap.wait_for(lambda e: e["data"]["user_id"] == invitee.id)

    assert event["data"] == {"org_id": org_id, "user_id": invitee.id, "role": "member"}
    members = (
        await client.get(f"/api/organizations/{org_id}/members", headers=owner.headers)
    ).json()
    assert sorted(m["role"] for m in members) == ["member", "owner"]
    me = (await client.get("/api/auth/me", headers=invitee.headers)).json()
    assert me["org_id"] == org_id
    refreshed = await client.post("/api/auth/refresh", json={"refresh_token": invitee.refresh})
    claims = jwt.decode(refreshed.json()["access_token"], options={"verify_signature": False})
    assert claims["org"] == org_id


async def test_an_invitation_is_for_its_addressee_only_and_works_once(
    client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    owner = await register(client)
    org_id = await organization(client, owner)
    invitee_email = new_email()
    await client.post(
        f"/api/organizations/{org_id}/invitations",
        json={"email": invitee_email},
        headers=owner.headers,
    )
    token = await mail_sink.token_sent_to(invitee_email)
    interloper = await register(client)
    invitee = await register(client, invitee_email)

    stolen = await client.post(
        "/api/organizations/invitations/accept", json={"token": token}, headers=interloper.headers
    )
    first = await client.post(
        "/api/organizations/invitations/accept", json={"token": token}, headers=invitee.headers
    )
    second = await client.post(
        "/api/organizations/invitations/accept", json={"token": token}, headers=invitee.headers
    )

    assert stolen.status_code == 403
    assert first.status_code == 200
    assert second.status_code == 400


async def test_members_cannot_invite_and_outsiders_see_nothing(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client)
    org_id = await organization(client, owner)
    outsider = await register(client)

    peek = await client.get(f"/api/organizations/{org_id}", headers=outsider.headers)
    invite = await client.post(
        f"/api/organizations/{org_id}/invitations",
        json={"email": new_email()},
        headers=outsider.headers,
    )

    assert peek.status_code == 404
    assert invite.status_code == 404


async def test_the_last_owner_cannot_leave(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    org_id = await organization(client, owner)

    leave = await client.delete(
        f"/api/organizations/{org_id}/members/{owner.id}", headers=owner.headers
    )

    assert leave.status_code == 409


async def test_deleting_an_organization_removes_its_members(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    org_id = await organization(client, owner)

    async with EventTap(["org.member_removed"]) as tap:
        gone = await client.delete(f"/api/organizations/{org_id}", headers=owner.headers)
        assert gone.status_code == 204
        await tap.wait_for(lambda e: e["data"]["org_id"] == org_id)

    assert (await client.get("/api/auth/me", headers=owner.headers)).json()["org_id"] is None


async def test_a_sub_user_keeps_its_limits_and_signs_in_under_its_parent(
    client: httpx.AsyncClient,
) -> None:
    parent = await register(client)
    email = new_email()

    async with EventTap(["user.registered"]) as tap:
        created = await client.post(
            "/api/sub-users",
            json={
                "email": email,
                "password": PASSWORD,
                "name": "Kid",
                "token_limit": 50_000,
                "permissions": ["llm"],
            },
            headers=parent.headers,
        )
        assert created.status_code == 201
        event = await tap.wait_for(lambda e: e["data"]["email"] == email)

    sub_id = created.json()["id"]
    assert event["data"]["parent_user_id"] == parent.id
    assert event["data"]["token_limit"] == 50_000
    stored = (await client.get(f"/api/sub-users/{sub_id}", headers=parent.headers)).json()
    assert stored["token_limit"] == 50_000 and stored["permissions"] == ["llm"]
    login = await client.post("/api/auth/login-json", json={"email": email, "password": PASSWORD})
    claims = jwt.decode(login.json()["access_token"], options={"verify_signature": False})
    assert claims["parent"] == parent.id
    sub_headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    no_keys = await client.post("/api/api-keys", json={"name": "x"}, headers=sub_headers)
    assert no_keys.status_code == 403


async def test_a_parent_changes_and_disables_a_sub_user(client: httpx.AsyncClient) -> None:
    parent = await register(client)
    email = new_email()
    sub = await client.post(
        "/api/sub-users", json={"email": email, "password": PASSWORD}, headers=parent.headers
    )
    sub_id = sub.json()["id"]

    changed = await client.put(
        f"/api/sub-users/{sub_id}",
        json={"token_limit": 1000, "is_active": False},
        headers=parent.headers,
    )

    assert changed.json()["token_limit"] == 1000 and changed.json()["is_active"] is False
    login = await client.post("/api/auth/login-json", json={"email": email, "password": PASSWORD})
    assert login.status_code == 401


async def test_nobody_else_sees_or_edits_a_sub_user(client: httpx.AsyncClient) -> None:
    parent = await register(client)
    stranger = await register(client)
    sub = await client.post(
        "/api/sub-users", json={"email": new_email(), "password": PASSWORD}, headers=parent.headers
    )

    peek = await client.get(f"/api/sub-users/{sub.json()['id']}", headers=stranger.headers)
    edit = await client.put(
        f"/api/sub-users/{sub.json()['id']}", json={"token_limit": 1}, headers=stranger.headers
    )

    assert peek.status_code == edit.status_code == 404


async def test_deleting_a_parent_erases_its_sub_users(client: httpx.AsyncClient) -> None:
    parent = await register(client)
    email = new_email()
    sub = await client.post(
        "/api/sub-users", json={"email": email, "password": PASSWORD}, headers=parent.headers
    )

    async with EventTap(["user.deleted"]) as tap:
        await client.request(
            "DELETE", "/api/users/account", json={"password": PASSWORD}, headers=parent.headers
        )
        await tap.wait_for(lambda e: e["data"]["user_id"] == sub.json()["id"])

    login = await client.post("/api/auth/login-json", json={"email": email, "password": PASSWORD})
    assert login.status_code == 401


async def test_a_member_who_deletes_their_account_leaves_the_organization(
    client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    owner = await register(client)
    org_id = await organization(client, owner)
    member_email = new_email()
    await client.post(
        f"/api/organizations/{org_id}/invitations",
        json={"email": member_email},
        headers=owner.headers,
    )
    token = await mail_sink.token_sent_to(member_email)
    member = await register(client, member_email)
    await client.post(
        "/api/organizations/invitations/accept", json={"token": token}, headers=member.headers
    )

    async with EventTap(["org.member_removed"]) as tap:
        await client.request(
            "DELETE", "/api/users/account", json={"password": PASSWORD}, headers=member.headers
        )
        await tap.wait_for(lambda e: e["data"]["user_id"] == member.id)

    members = await client.get(f"/api/organizations/{org_id}/members", headers=owner.headers)
    assert [m["user_id"] for m in members.json()] == [owner.id]
