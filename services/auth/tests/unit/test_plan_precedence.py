from __future__ import annotations

import uuid

from tollgate.auth.models import AccountPlan, User
from tollgate.auth.plans.repository import governing_row


def plan(account: uuid.UUID, name: str) -> AccountPlan:
    return AccountPlan(account_id=account, plan=name, status="active", limits={}, sequence=1)


def user(**kw: uuid.UUID | None) -> User:
    return User(id=uuid.uuid4(), **kw)


def test_an_organization_plan_beats_the_members_own() -> None:
    org = uuid.uuid4()
    member = user(org_id=org)
    rows = {org: plan(org, "enterprise"), member.id: plan(member.id, "pro")}

    assert governing_row(member, rows).plan == "enterprise"  # type: ignore[union-attr]


def test_a_sub_user_spends_under_its_parents_plan() -> None:
    parent = uuid.uuid4()
    child = user(parent_user_id=parent)

    assert governing_row(child, {parent: plan(parent, "pro")}).plan == "pro"  # type: ignore[union-attr]


def test_without_an_account_plan_the_users_own_counts_and_else_none() -> None:
    org = uuid.uuid4()
    member = user(org_id=org)

    assert governing_row(member, {member.id: plan(member.id, "pro")}).plan == "pro"  # type: ignore[union-attr]
    assert governing_row(member, {}) is None
