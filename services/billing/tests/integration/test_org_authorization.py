"""An organization's billing answers to its current members: owners change it, members look."""

from __future__ import annotations

import uuid

import httpx
from conftest import Users

from tollgate.shared.messaging.events import OrgMemberAdded, OrgMemberRemoved, OrgMemberUpdated
from tollgate.standins.stripe import StripeStandIn


async def paying_org(
    users: Users, client: httpx.AsyncClient, stripe: StripeStandIn
) -> tuple[uuid.UUID, uuid.UUID]:
    """An organization on enterprise, paid for by its owner through Checkout."""
    org_id = uuid.uuid4()
    owner = await users.register()
    await users.join(org_id, owner, "owner")
    response = await client.post(
        "/api/subscriptions/subscribe",
        json={"plan": "enterprise", "org_id": str(org_id)},
        headers=users.auth(owner, org=org_id),
    )
    assert response.status_code == 200, response.text
    stripe.complete_checkout(response.json()["checkout"]["session_id"])
    assert set(await stripe.deliver_pending()) == {200}
    return org_id, owner


async def cancel(
    client: httpx.AsyncClient, users: Users, user_id: uuid.UUID, org_id: uuid.UUID
) -> httpx.Response:
    return await client.post(
        "/api/subscriptions/cancel",
        json={"org_id": str(org_id)},
        headers=users.auth(user_id, org=org_id),
    )


async def org_plan(
    client: httpx.AsyncClient, users: Users, owner: uuid.UUID, org_id: uuid.UUID
) -> dict[str, object]:
    response = await client.get(
        f"/api/subscriptions/current?org_id={org_id}", headers=users.auth(owner, org=org_id)
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_a_plain_member_cannot_cancel_or_downgrade_the_organizations_plan(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    org_id, owner = await paying_org(users, client, stripe_standin)
    member = await users.register()
    await users.join(org_id, member)
    as_member = users.auth(member, org=org_id)

    cancelled = await cancel(client, users, member, org_id)
    downgraded = await client.put(
        "/api/subscriptions/upgrade", json={"plan": "pro", "org_id": str(org_id)}, headers=as_member
    )
    portal = await client.post(
        "/api/billing/portal", json={"org_id": str(org_id)}, headers=as_member
    )

    assert cancelled.status_code == downgraded.status_code == portal.status_code == 403
    assert cancelled.json()["type"].endswith("/org-owner-only")
    plan = await org_plan(client, users, owner, org_id)
    assert (plan["plan"], plan["cancel_at_period_end"]) == ("enterprise", False)
    # Looking is allowed to every member.
    seen = await client.get(f"/api/subscriptions/current?org_id={org_id}", headers=as_member)
    invoices = await client.get(f"/api/billing/invoices?org_id={org_id}", headers=as_member)
    assert seen.status_code == invoices.status_code == 200


async def test_an_admin_manages_people_but_not_the_organizations_money(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    org_id, _ = await paying_org(users, client, stripe_standin)
    admin = await users.register()
    await users.join(org_id, admin, "admin")

    assert (await cancel(client, users, admin, org_id)).status_code == 403


async def test_the_owner_cancels_and_resumes_the_organizations_plan(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    org_id, owner = await paying_org(users, client, stripe_standin)

    cancelled = await cancel(client, users, owner, org_id)
    resumed = await client.post(
        "/api/subscriptions/resume",
        json={"org_id": str(org_id)},
        headers=users.auth(owner, org=org_id),
    )

    assert cancelled.status_code == 200 and cancelled.json()["cancel_at_period_end"] is True
    assert resumed.status_code == 200 and resumed.json()["cancel_at_period_end"] is False


async def test_a_member_removed_a_moment_ago_loses_even_read_access_whatever_their_token_says(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    org_id, owner = await paying_org(users, client, stripe_standin)
    member = await users.register()
    await users.join(org_id, member)
    # The member's token, minted while they belonged, still names the organization.
    as_member = users.auth(member, org=org_id)
    assert (
        await client.get(f"/api/billing/invoices?org_id={org_id}", headers=as_member)
    ).status_code == 200

    await users.announce(OrgMemberRemoved(org_id=org_id, user_id=member, role="member"))
    await users.until_member(org_id, member, lambda m: not m.active)

    for response in (
        await client.get(f"/api/billing/invoices?org_id={org_id}", headers=as_member),
        await client.get(f"/api/billing/payments?org_id={org_id}", headers=as_member),
        await client.get(f"/api/subscriptions/current?org_id={org_id}", headers=as_member),
        await cancel(client, users, member, org_id),
    ):
        assert response.status_code == 404, response.text
    assert (await org_plan(client, users, owner, org_id))["cancel_at_period_end"] is False


async def test_an_owner_demoted_a_moment_ago_can_no_longer_cancel(
    users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    org_id, owner = await paying_org(users, client, stripe_standin)
    heir = await users.register()
    await users.join(org_id, heir, "owner")

    await users.announce(OrgMemberUpdated(org_id=org_id, user_id=owner, role="member"))
    await users.until_member(org_id, owner, lambda m: m.role == "member")

    assert (await cancel(client, users, owner, org_id)).status_code == 403
    assert (await cancel(client, users, heir, org_id)).status_code == 200


async def test_a_late_older_membership_event_does_not_bring_a_removed_member_back(
    users: Users, client: httpx.AsyncClient
) -> None:
    org_id, member = uuid.uuid4(), await users.register()
    await users.join(org_id, member)
    await users.announce(OrgMemberRemoved(org_id=org_id, user_id=member))
    await users.until_member(org_id, member, lambda m: not m.active)

    # An "added as owner" that auth made before the removal arrives last.
    await users.announce(
        OrgMemberAdded(org_id=org_id, user_id=member, role="owner"), seconds_ago=30
    )
    marker = await users.register()
    await users.join(org_id, marker)  # the queue is ordered: the late event is behind us

    membership = await users.membership(org_id, member)
    assert membership is not None and not membership.active and membership.role == "member"
