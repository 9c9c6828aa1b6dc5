"""Facts other services authorize from are announced; an organization keeps an owner."""

from __future__ import annotations

import httpx
from auth_helpers import (
    PASSWORD,
    EventTap,
    MailSink,
    SignedInUser,
    auth_settings,
    new_email,
    register,
)

from tollgate.auth.cli import announce_facts


async def organization(client: httpx.AsyncClient, owner: SignedInUser) -> str:
    created = await client.post("/api/organizations", json={"name": "Acme"}, headers=owner.headers)
    assert created.status_code == 201
    return str(created.json()["id"])


async def join(
    client: httpx.AsyncClient, mail_sink: MailSink, owner: SignedInUser, org_id: str, role: str
) -> SignedInUser:
    email = new_email()
    invited = await client.post(
        f"/api/organizations/{org_id}/invitations",
        json={"email": email, "role": role},
        headers=owner.headers,
    )
    assert invited.status_code == 201
    token = await mail_sink.token_sent_to(email)
    member = await register(client, email)
    accepted = await client.post(
        "/api/organizations/invitations/accept", json={"token": token}, headers=member.headers
    )
    assert accepted.status_code == 200
    return member


async def delete_account(client: httpx.AsyncClient, user: SignedInUser) -> httpx.Response:
    return await client.request(
        "DELETE", "/api/users/account", json={"password": PASSWORD}, headers=user.headers
    )


async def test_a_role_change_is_announced_with_the_new_role(
    client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    owner = await register(client)
    org_id = await organization(client, owner)
    admin = await join(client, mail_sink, owner, org_id, "admin")

    async with EventTap(["org.member_updated"]) as tap:
        demoted = await client.put(
            f"/api/organizations/{org_id}/members/{admin.id}",
            json={"role": "member"},
            headers=owner.headers,
        )
        assert demoted.status_code == 204
        event = await tap.wait_for(lambda e: e["data"]["user_id"] == admin.id)

    assert event["data"] == {"org_id": org_id, "user_id": admin.id, "role": "member"}


async def test_a_sub_user_cap_and_permissions_change_is_announced(
    client: httpx.AsyncClient,
) -> None:
    parent = await register(client)
    sub = await client.post(
        "/api/sub-users",
        json={"email": new_email(), "password": PASSWORD, "token_limit": 50_000},
        headers=parent.headers,
    )
    sub_id = sub.json()["id"]

    async with EventTap(["sub_user.updated"]) as tap:
        changed = await client.put(
            f"/api/sub-users/{sub_id}",
            json={"token_limit": 0, "permissions": ["read"]},
            headers=parent.headers,
        )
        assert changed.status_code == 200
        event = await tap.wait_for(lambda e: e["data"]["user_id"] == sub_id)

    assert event["data"] == {
        "user_id": sub_id,
        "parent_user_id": parent.id,
        "token_limit": 0,
        "permissions": ["read"],
        "is_active": True,
    }


async def test_the_sole_owner_deleting_their_account_hands_the_organization_to_an_admin(
    client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    owner = await register(client)
    org_id = await organization(client, owner)
    admin = await join(client, mail_sink, owner, org_id, "admin")

    async with EventTap(["org.member_updated"]) as tap:
        assert (await delete_account(client, owner)).status_code == 204
        event = await tap.wait_for(lambda e: e["data"]["user_id"] == admin.id)

    assert event["data"]["role"] == "owner"
    members = await client.get(f"/api/organizations/{org_id}/members", headers=admin.headers)
    assert [(m["user_id"], m["role"]) for m in members.json()] == [(admin.id, "owner")]


async def test_the_sole_owner_of_an_organization_without_admins_cannot_delete_their_account(
    client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    owner = await register(client)
    org_id = await organization(client, owner)
    member = await join(client, mail_sink, owner, org_id, "member")

    refused = await delete_account(client, owner)

    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/sole-owner")
    assert "admin" in refused.json()["detail"]
    # Nothing was erased: the owner still signs in and still owns the organization.
    me = await client.get("/api/auth/me", headers=owner.headers)
    assert me.status_code == 200 and me.json()["org_id"] == org_id
    members = await client.get(f"/api/organizations/{org_id}/members", headers=member.headers)
    assert {(m["user_id"], m["role"]) for m in members.json()} == {
        (owner.id, "owner"),
        (member.id, "member"),
    }


async def test_an_organization_with_nobody_but_its_owner_goes_with_the_owners_account(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client)
    org_id = await organization(client, owner)

    async with EventTap(["org.member_removed"]) as tap:
        assert (await delete_account(client, owner)).status_code == 204
        await tap.wait_for(lambda e: e["data"]["org_id"] == org_id)

    other = await register(client)
    assert (
        await client.get(f"/api/organizations/{org_id}", headers=other.headers)
    ).status_code == 404


async def test_a_sub_user_token_limit_is_a_whole_number_never_a_string(
    client: httpx.AsyncClient,
) -> None:
    parent = await register(client)
    created = await client.post(
        "/api/sub-users",
        json={"email": new_email(), "password": PASSWORD, "token_limit": "100"},
        headers=parent.headers,
    )
    sub = await client.post(
        "/api/sub-users",
        json={"email": new_email(), "password": PASSWORD, "token_limit": 100},
        headers=parent.headers,
    )
    changed = await client.put(
        f"/api/sub-users/{sub.json()['id']}", json={"token_limit": "0"}, headers=parent.headers
    )

    assert created.status_code == changed.status_code == 422
    stored = await client.get(f"/api/sub-users/{sub.json()['id']}", headers=parent.headers)
    assert stored.json()["token_limit"] == 100


async def test_announce_facts_publishes_every_current_membership_and_sub_user_again(
    client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    owner = await register(client)
    org_id = await organization(client, owner)
    admin = await join(client, mail_sink, owner, org_id, "admin")
    sub = await client.post(
        "/api/sub-users",
        json={"email": new_email(), "password": PASSWORD, "permissions": ["read"]},
        headers=owner.headers,
    )
    sub_id = sub.json()["id"]

    async with EventTap(["org.member_added", "sub_user.updated"]) as tap:
        await announce_facts(auth_settings())
        owner_added = await tap.wait_for(lambda e: e["data"].get("user_id") == owner.id)
        admin_added = await tap.wait_for(lambda e: e["data"].get("user_id") == admin.id)
        terms = await tap.wait_for(lambda e: e["data"].get("user_id") == sub_id)

    assert owner_added["data"] == {"org_id": org_id, "user_id": owner.id, "role": "owner"}
    assert admin_added["data"]["role"] == "admin"
    assert terms["type"] == "sub_user.updated"
    assert (terms["data"]["permissions"], terms["data"]["parent_user_id"]) == (["read"], owner.id)
