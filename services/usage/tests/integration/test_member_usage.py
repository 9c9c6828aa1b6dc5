"""Owners and admins read each member's usage of the pool; parents their sub-users'."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from test_analytics import auth, record_calls
from test_pools import org_with_pool
from usage_harness import Usage, eventually, now

from tollgate.shared.messaging.events import OrgMemberAdded, OrgMemberRemoved, UserRegistered
from tollgate.usage.models import Member


async def join(usage: Usage, org: uuid.UUID, user: uuid.UUID, role: str) -> None:
    await usage.publish(OrgMemberAdded(org_id=org, user_id=user, role=role))
    await eventually(lambda: usage.db(lambda s: s.get(Member, (org, user))))


async def members_usage(usage: Usage, token: str) -> dict[str, dict[str, object]]:
    response = await usage.http.get("/api/usage/members", headers=auth(token))
    assert response.status_code == 200, response.text
    return {m["user_id"]: m for m in response.json()["members"]}


async def test_an_owner_and_an_admin_see_what_each_member_spent_from_the_pool(
    usage: Usage,
) -> None:
    owner, admin, member = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    org = await org_with_pool(usage, 1_000_000, member)
    await join(usage, org, owner, "owner")
    await join(usage, org, admin, "admin")
    await record_calls(
        usage,
        member,
        [
            {"org_id": org, "model": "gpt-4o-mini", "prompt_tokens": 100, "completion_tokens": 20},
            {"org_id": org, "model": "gpt-4o", "prompt_tokens": 300, "completion_tokens": 80},
        ],
    )

    for manager, other in ((owner, admin), (admin, owner)):
        seen = await members_usage(usage, usage.user_token(manager, org=org))
        assert seen[str(member)]["totals"]["total_tokens"] == 500  # type: ignore[index]
        assert seen[str(member)]["totals"]["requests"] == 2  # type: ignore[index]
        assert seen[str(other)]["totals"]["total_tokens"] == 0  # type: ignore[index]
        assert str(manager) not in seen  # one's own spending is on the usage page

    by_model = await usage.http.get(
        f"/api/usage/members/{member}/stats",
        params={"group_by": "model"},
        headers=auth(usage.user_token(owner, org=org)),
    )
    assert by_model.status_code == 200, by_model.text
    body = by_model.json()
    assert {i["key"]: i["total_tokens"] for i in body["items"]} == {
        "gpt-4o": 380,
        "gpt-4o-mini": 120,
    }
    assert body["totals"]["total_tokens"] == 500


async def test_a_plain_member_and_a_stranger_get_404_for_a_members_usage(usage: Usage) -> None:
    member, colleague, stranger = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    org = await org_with_pool(usage, 1_000_000, member, colleague)

    for caller in (usage.user_token(colleague, org=org), usage.user_token(stranger)):
        response = await usage.http.get(f"/api/usage/members/{member}/stats", headers=auth(caller))
        assert response.status_code == 404, response.text
        assert await members_usage(usage, caller) == {}


async def test_an_admin_removed_from_the_organization_no_longer_reads_its_members(
    usage: Usage,
) -> None:
    admin, member = uuid.uuid4(), uuid.uuid4()
    org = await org_with_pool(usage, 1_000_000, member)
    await join(usage, org, admin, "admin")
    token = usage.user_token(admin, org=org)  # still names the org: the claim decides nothing
    await usage.publish(OrgMemberRemoved(org_id=org, user_id=admin))

    async def removed() -> bool:
        row = await usage.db(lambda s: s.get(Member, (org, admin)))
        return row is not None and not row.active

    await eventually(removed)
    response = await usage.http.get(f"/api/usage/members/{member}/stats", headers=auth(token))
    assert response.status_code == 404


async def test_a_parent_reads_its_sub_users_usage_from_its_own_account_only(
    usage: Usage,
) -> None:
    parent, child = uuid.uuid4(), uuid.uuid4()
    await usage.publish(UserRegistered(user_id=parent, email="parent@example.com"))
    await usage.publish(
        UserRegistered(
            user_id=child, email="child@example.com", parent_user_id=parent, token_limit=9_000
        )
    )
    await eventually(lambda: usage.db(lambda s: s.get(Member, (parent, child))))
    yesterday = now() - timedelta(days=1)
    await record_calls(
        usage,
        child,
        [
            {"prompt_tokens": 40, "completion_tokens": 2},
            {
                "prompt_tokens": 10,
                "completion_tokens": 0,
                "started_at": yesterday,
            },
        ],
    )

    seen = await members_usage(usage, usage.user_token(parent))
    assert seen[str(child)]["kind"] == "sub_user"
    assert seen[str(child)]["cap_tokens"] == 9_000
    assert seen[str(child)]["totals"]["total_tokens"] == 52  # type: ignore[index]

    by_day = await usage.http.get(
        f"/api/usage/members/{child}/stats",
        params={"start": (now() - timedelta(days=3)).date().isoformat()},
        headers=auth(usage.user_token(parent)),
    )
    assert by_day.status_code == 200, by_day.text
    assert [i["total_tokens"] for i in by_day.json()["items"]] == [10, 42]
    reversed_range = await usage.http.get(
        f"/api/usage/members/{child}/stats",
        params={"start": "2026-02-01", "end": "2026-01-01"},
        headers=auth(usage.user_token(parent)),
    )
    assert reversed_range.status_code == 400
    members = await usage.db(
        lambda s: s.scalars(select(Member).where(Member.account_id == parent))  # type: ignore[arg-type,return-value]
    )
    assert [m.user_id for m in members] == [child]
