"""Who pays for a call: the user, their organization's pool, or a sub-user's parent."""

from __future__ import annotations

import uuid

from tollgate.shared.errors import Forbidden
from tollgate.usage.ledger.store import MemberRow
from tollgate.usage.members.payer import Payer, who_pays

USER, ORG, PARENT = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def member(account: uuid.UUID, *, active: bool = True, cap: int | None = None) -> MemberRow:
    kind = "org" if account == ORG else "sub_user"
    return MemberRow(account, USER, kind, active, cap, None)


def test_a_user_on_their_own_pays_from_their_own_account() -> None:
    assert who_pays(USER, org=None, parent=None, memberships={}, live_pools=set()) == Payer(
        USER, None
    )


def test_an_organization_member_pays_from_the_pool_within_their_cap() -> None:
    membership = member(ORG, cap=5_000)

    payer = who_pays(
        USER, org=ORG, parent=None, memberships={(ORG, USER): membership}, live_pools={ORG}
    )

    assert (payer.account_id, payer.cap_tokens, payer.refusal) == (ORG, 5_000, None)


def test_before_billing_announces_the_pool_a_member_pays_from_their_own_account() -> None:
    payer = who_pays(USER, org=ORG, parent=None, memberships={}, live_pools=set())

    assert payer.account_id == USER


def test_a_removed_member_pays_from_their_own_account() -> None:
    removed = member(ORG, active=False)

    payer = who_pays(
        USER, org=ORG, parent=None, memberships={(ORG, USER): removed}, live_pools={ORG}
    )

    assert (payer.account_id, payer.refusal) == (USER, None)


def test_a_sub_user_pays_from_the_parent_account_within_the_cap() -> None:
    payer = who_pays(
        USER,
        org=None,
        parent=PARENT,
        memberships={(PARENT, USER): member(PARENT, cap=700)},
        live_pools=set(),
    )

    assert (payer.account_id, payer.cap_tokens, payer.refusal) == (PARENT, 700, None)


def test_a_disabled_sub_user_is_refused() -> None:
    payer = who_pays(
        USER,
        org=None,
        parent=PARENT,
        memberships={(PARENT, USER): member(PARENT, active=False)},
        live_pools=set(),
    )

    assert payer.account_id == PARENT
    assert isinstance(payer.refusal, Forbidden)


def test_a_sub_users_parent_pays_even_when_an_organization_is_named_too() -> None:
    payer = who_pays(USER, org=ORG, parent=PARENT, memberships={}, live_pools={ORG})

    assert payer.account_id == PARENT


def test_a_parent_claim_naming_the_user_themself_is_not_a_sub_user() -> None:
    payer = who_pays(USER, org=None, parent=USER, memberships={}, live_pools=set())

    assert payer == Payer(USER, None)
