"""Caps and holds follow auth's latest facts about members, not the caller's token."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from test_pools import org_with_pool
from usage_harness import Usage, eventually, now

from tollgate.shared.messaging import make_envelope
from tollgate.shared.messaging.events import (
    EventData,
    OrgMemberAdded,
    OrgMemberRemoved,
    OrgMemberUpdated,
    SubUserUpdated,
    UserRegistered,
)
from tollgate.usage.models import Member


async def publish_at(usage: Usage, data: EventData, seconds_ago: float) -> None:
    """An event auth made ``seconds_ago``, however late it arrives."""
    envelope = make_envelope("auth", uuid.uuid4(), data)
    then = now() - timedelta(seconds=seconds_ago)
    await usage.broker.publish(envelope.model_copy(update={"occurred_at": then}))


async def member(usage: Usage, account: uuid.UUID, user: uuid.UUID) -> Member | None:
    return await usage.db(lambda s: s.get(Member, (account, user), populate_existing=True))


async def set_cap(usage: Usage, caller_token: str, user: uuid.UUID, cap: object) -> httpx.Response:
    return await usage.http.put(
        f"/api/tokens/caps/{user}",
        json={"cap_tokens": cap},
        headers={"Authorization": f"Bearer {caller_token}"},
    )


async def sub_user(usage: Usage, **terms: object) -> tuple[uuid.UUID, uuid.UUID, str]:
    parent, child = uuid.uuid4(), uuid.uuid4()
    await usage.publish(UserRegistered(user_id=parent, email="p@example.com"))
    # Registered a minute ago, so the changes a test makes are all newer.
    registered = UserRegistered.model_validate(
        {"user_id": child, "email": "c@example.com", "parent_user_id": parent, **terms}
    )
    await publish_at(usage, registered, 60)
    await eventually(lambda: member(usage, parent, child))
    return parent, child, usage.user_token(child, parent=parent)


async def test_a_lowered_sub_user_cap_stops_its_spending_as_soon_as_auth_announces_it(
    usage: Usage,
) -> None:
    parent, child, child_token = await sub_user(usage, token_limit=50_000)
    assert (await usage.reserve(child_token, prompt_tokens=1_000)).status_code == 201

    await usage.publish(
        SubUserUpdated(user_id=child, parent_user_id=parent, token_limit=0, permissions=["llm"])
    )
    await eventually(lambda: _cap_is(usage, parent, child, 0))

    refused = await usage.reserve(child_token, prompt_tokens=10)
    assert refused.status_code == 402
    assert refused.json()["available"] == 0


async def _cap_is(usage: Usage, account: uuid.UUID, user: uuid.UUID, cap: int | None) -> bool:
    row = await member(usage, account, user)
    return row is not None and row.cap_tokens == cap


async def test_a_sub_user_without_the_llm_permission_gets_no_hold(usage: Usage) -> None:
    parent, child, child_token = await sub_user(usage, permissions=["read"])

    refused = await usage.reserve(child_token, prompt_tokens=10)

    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/llm-not-permitted")
    assert "llm permission" in refused.json()["detail"]
    # Given the permission a moment later, it may spend at once.
    await usage.publish(SubUserUpdated(user_id=child, parent_user_id=parent, permissions=["llm"]))

    async def allowed() -> bool:
        return (await usage.reserve(child_token, prompt_tokens=10)).status_code == 201

    await eventually(allowed)


async def test_a_sub_user_event_older_than_the_one_applied_changes_nothing(usage: Usage) -> None:
    parent, child, child_token = await sub_user(usage, token_limit=50_000)
    await publish_at(
        usage,
        SubUserUpdated(user_id=child, parent_user_id=parent, token_limit=0, permissions=["llm"]),
        1,
    )
    await eventually(lambda: _cap_is(usage, parent, child, 0))

    # Auth raised the cap before lowering it to 0; that older event arrives last.
    await publish_at(
        usage,
        SubUserUpdated(
            user_id=child, parent_user_id=parent, token_limit=90_000, permissions=["llm"]
        ),
        5,
    )
    marker = uuid.uuid4()
    await usage.publish(
        UserRegistered(user_id=marker, email="m@example.com", parent_user_id=parent)
    )
    await eventually(lambda: member(usage, parent, marker))  # same queue: the old one is done

    assert await _cap_is(usage, parent, child, 0)
    assert (await usage.reserve(child_token, prompt_tokens=10)).status_code == 402


async def test_an_admin_demoted_a_moment_ago_can_no_longer_set_caps(usage: Usage) -> None:
    admin, other = uuid.uuid4(), uuid.uuid4()
    org = await org_with_pool(usage, 100_000, other)
    await usage.publish(OrgMemberAdded(org_id=org, user_id=admin, role="admin"))
    await eventually(lambda: member(usage, org, admin))
    admin_token = usage.user_token(admin, org=org)
    assert (await set_cap(usage, admin_token, other, 1_000)).status_code == 200

    await usage.publish(OrgMemberUpdated(org_id=org, user_id=admin, role="member"))

    async def demoted() -> bool:
        row = await member(usage, org, admin)
        return row is not None and row.role == "member"

    await eventually(demoted)
    refused = await set_cap(usage, admin_token, other, 5)
    assert refused.status_code == 403
    assert "owners and admins" in refused.json()["detail"]
    assert await _cap_is(usage, org, other, 1_000)


async def test_an_admin_cannot_cap_the_owner_but_another_owner_can(usage: Usage) -> None:
    owner, admin, co_owner = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    org = await org_with_pool(usage, 100_000)
    for user, role in ((owner, "owner"), (admin, "admin"), (co_owner, "owner")):
        await usage.publish(OrgMemberAdded(org_id=org, user_id=user, role=role))
    await eventually(lambda: member(usage, org, co_owner))

    by_admin = await set_cap(usage, usage.user_token(admin, org=org), owner, 0)
    by_owner = await set_cap(usage, usage.user_token(co_owner, org=org), owner, 7)

    assert by_admin.status_code == 403
    assert by_admin.json()["type"].endswith("/owner-only")
    assert by_owner.status_code == 200
    assert await _cap_is(usage, org, owner, 7)


async def test_a_removed_manager_sees_no_member_to_cap_even_with_a_token_naming_the_org(
    usage: Usage,
) -> None:
    admin, other = uuid.uuid4(), uuid.uuid4()
    org = await org_with_pool(usage, 100_000, other)
    await usage.publish(OrgMemberAdded(org_id=org, user_id=admin, role="admin"))
    await eventually(lambda: member(usage, org, admin))
    await usage.publish(OrgMemberRemoved(org_id=org, user_id=admin, role="admin"))

    async def removed() -> bool:
        row = await member(usage, org, admin)
        return row is not None and not row.active

    await eventually(removed)
    refused = await set_cap(usage, usage.user_token(admin, org=org), other, 0)
    assert refused.status_code == 404


async def test_a_member_removed_and_added_again_stays_in_whatever_order_the_events_arrive(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    org = await org_with_pool(usage, 100_000)
    await publish_at(usage, OrgMemberAdded(org_id=org, user_id=user, role="member"), 1)
    await eventually(lambda: member(usage, org, user))
    await publish_at(usage, OrgMemberRemoved(org_id=org, user_id=user, role="member"), 5)
    await publish_at(usage, OrgMemberUpdated(org_id=org, user_id=user, role="admin"), 0.5)

    async def admin_now() -> bool:
        row = await member(usage, org, user)
        return row is not None and row.role == "admin"

    await eventually(admin_now)
    row = await member(usage, org, user)
    assert row is not None and row.active


async def test_a_cap_is_a_whole_number_of_tokens_not_a_string(usage: Usage) -> None:
    parent, child, _ = await sub_user(usage)

    refused = await set_cap(usage, usage.user_token(parent), child, "100")

    assert refused.status_code == 422
    assert await _cap_is(usage, parent, child, None)
