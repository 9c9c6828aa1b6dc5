"""Organization pools and sub-user caps."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select
from usage_builders import subscription_changed, usage_recorded
from usage_harness import Usage, eventually, now

from tollgate.shared.messaging.events import OrgMemberAdded, UserRegistered
from tollgate.usage.models import Account, Member, UsageRecord


async def org_with_pool(usage: Usage, tokens: int, *members: uuid.UUID) -> uuid.UUID:
    org = uuid.uuid4()
    await usage.publish(
        subscription_changed(org, sequence=1, org_id=org, monthly_tokens=tokens, period_start=now())
    )
    for member in members:
        await usage.publish(OrgMemberAdded(org_id=org, user_id=member, role="member"))

    async def ready() -> bool:
        account = await usage.db(lambda s: s.get(Account, org))
        joined = await usage.db(
            lambda s: s.scalars(select(Member).where(Member.account_id == org))  # type: ignore[arg-type,return-value]
        )
        return account is not None and len(list(joined)) == len(members)

    await eventually(ready)
    return org


async def test_organization_members_share_one_pool_and_together_cannot_overspend_it(
    usage: Usage,
) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    org = await org_with_pool(usage, 3_000, alice, bob)
    tokens = [usage.user_token(alice, org=org), usage.user_token(bob, org=org)]

    responses = await asyncio.gather(
        *(
            usage.reserve(tokens[i % 2], prompt_tokens=500, max_completion_tokens=500)
            for i in range(8)
        )
    )

    assert sorted(r.status_code for r in responses) == [201] * 3 + [402] * 5
    assert {r.json()["account_id"] for r in responses if r.status_code == 201} == {str(org)}
    assert (await usage.balance(tokens[0]))["available"] == 0
    # Their own accounts were never touched.
    assert (await usage.balance(usage.user_token(alice)))["available"] == 100_000


async def test_an_org_member_cap_limits_one_member_but_not_the_others(usage: Usage) -> None:
    owner, capped = uuid.uuid4(), uuid.uuid4()
    org = await org_with_pool(usage, 100_000, capped)
    await usage.publish(OrgMemberAdded(org_id=org, user_id=owner, role="owner"))
    await eventually(lambda: usage.db(lambda s: s.get(Member, (org, owner))))
    owner_token = usage.user_token(owner, org=org)

    response = await usage.http.put(
        f"/api/tokens/caps/{capped}",
        json={"cap_tokens": 1_000},
        headers={"Authorization": f"Bearer {owner_token}"},
    )
    assert response.status_code == 200, response.text

    capped_token = usage.user_token(capped, org=org)
    assert (
        await usage.reserve(capped_token, prompt_tokens=800, max_completion_tokens=0)
    ).status_code == 201
    over = await usage.reserve(capped_token, prompt_tokens=300, max_completion_tokens=0)
    assert over.status_code == 402
    assert over.json()["available"] == 200
    assert (
        await usage.reserve(owner_token, prompt_tokens=5_000, max_completion_tokens=0)
    ).status_code == 201


async def test_a_sub_user_spends_from_the_parent_within_its_own_cap(usage: Usage) -> None:
    parent, child = uuid.uuid4(), uuid.uuid4()
    await usage.publish(UserRegistered(user_id=parent, email="p@example.com"))
    await usage.publish(
        UserRegistered(
            user_id=child, email="c@example.com", parent_user_id=parent, token_limit=1_500
        )
    )
    await eventually(lambda: usage.db(lambda s: s.get(Member, (parent, child))))
    child_token = usage.user_token(child, parent=parent)

    first = await usage.reserve(child_token, prompt_tokens=1_000, max_completion_tokens=0)
    assert first.status_code == 201
    assert first.json()["account_id"] == str(parent)
    event = usage_recorded(
        child,
        reservation_id=uuid.UUID(first.json()["reservation_id"]),
        prompt_tokens=1_000,
        completion_tokens=0,
    )
    await usage.publish(event)
    await eventually(
        lambda: usage.db(
            lambda s: s.scalar(
                select(UsageRecord).where(UsageRecord.request_id == event.request_id)
            )
        )
    )

    refused = await usage.reserve(child_token, prompt_tokens=600, max_completion_tokens=0)
    assert refused.status_code == 402
    assert refused.json()["available"] == 500
    parent_balance = await usage.balance(usage.user_token(parent))
    assert parent_balance["available"] == 100_000 - 1_000
    assert (await usage.balance(child_token))["available"] == 500


async def test_a_parent_can_change_the_cap_of_its_sub_user_but_a_stranger_cannot(
    usage: Usage,
) -> None:
    parent, child, stranger = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await usage.publish(
        UserRegistered(user_id=child, email="c2@example.com", parent_user_id=parent)
    )
    await eventually(lambda: usage.db(lambda s: s.get(Member, (parent, child))))

    by_stranger = await usage.http.put(
        f"/api/tokens/caps/{child}",
        json={"cap_tokens": 10},
        headers={"Authorization": f"Bearer {usage.user_token(stranger)}"},
    )
    by_parent = await usage.http.put(
        f"/api/tokens/caps/{child}",
        json={"cap_tokens": 10},
        headers={"Authorization": f"Bearer {usage.user_token(parent)}"},
    )
    negative = await usage.http.put(
        f"/api/tokens/caps/{child}",
        json={"cap_tokens": -1},
        headers={"Authorization": f"Bearer {usage.user_token(parent)}"},
    )

    assert by_stranger.status_code == 404
    assert by_parent.status_code == 200
    assert negative.status_code == 422
    child_token = usage.user_token(child, parent=parent)
    assert (
        await usage.reserve(child_token, prompt_tokens=11, max_completion_tokens=0)
    ).status_code == 402
