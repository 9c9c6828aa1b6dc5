"""Who pays for a call: the rule, free of I/O.

A sub-user (token claim ``parent``) spends from the parent's account, within the
cap set for them, unless the parent disabled them. An organization member (claim
``org``) spends from the organization's pool once billing has announced the
organization's subscription (the pool account exists and is not deleted), unless
their membership is inactive. Everyone else spends from their own account.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Set
from dataclasses import dataclass

from tollgate.shared.errors import Forbidden, TollgateError
from tollgate.usage.ledger.store import MemberRow

__all__ = ["Payer", "membership_key", "pool_wanted", "who_pays"]


@dataclass(frozen=True)
class Payer:
    """The account a caller spends from, their cap there, or why they may not."""

    account_id: uuid.UUID
    cap_tokens: int | None  # per period; None: no cap
    refusal: TollgateError | None = None
    membership: MemberRow | None = None


def _sub_user_of(user_id: uuid.UUID, parent: uuid.UUID | None) -> bool:
    return parent is not None and parent != user_id


def membership_key(
    user_id: uuid.UUID, *, org: uuid.UUID | None, parent: uuid.UUID | None
) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The (account, user) membership that decides who pays, if any."""
    if parent is not None and _sub_user_of(user_id, parent):
        return (parent, user_id)
    if org is not None:
        return (org, user_id)
    return None


def pool_wanted(user_id: uuid.UUID, *, org: uuid.UUID | None, parent: uuid.UUID | None) -> bool:
    """Whether the organization pool's existence matters (it does not for a sub-user)."""
    return org is not None and not _sub_user_of(user_id, parent)


def who_pays(
    user_id: uuid.UUID,
    *,
    org: uuid.UUID | None,
    parent: uuid.UUID | None,
    memberships: Mapping[tuple[uuid.UUID, uuid.UUID], MemberRow],
    live_pools: Set[uuid.UUID],
) -> Payer:
    if parent is not None and _sub_user_of(user_id, parent):
        membership = memberships.get((parent, user_id))
        if membership is not None and not membership.active:
            refusal = Forbidden("This sub-user has been disabled by its parent account")
            return Payer(parent, None, refusal, membership)
        cap = membership.cap_tokens if membership else None
        return Payer(parent, cap, membership=membership)
    if org is not None and org in live_pools:
        membership = memberships.get((org, user_id))
        if membership is None or membership.active:
            cap = membership.cap_tokens if membership else None
            return Payer(org, cap, membership=membership)
    return Payer(user_id, None)
