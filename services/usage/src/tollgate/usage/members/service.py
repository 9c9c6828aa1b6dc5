"""Which account a caller spends from, and the cap on what they may spend of it.

The rule is ``payer.who_pays``; this module reads the facts it needs (the
memberships involved, which organization pools are live) for a whole group of
callers at once: a reservation group, a batch of usage events, or one caller
asking for their balance.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.errors import Forbidden
from tollgate.usage.ledger import repository as repo
from tollgate.usage.ledger import store
from tollgate.usage.ledger.service import ensure_account
from tollgate.usage.ledger.store import Db
from tollgate.usage.members.payer import Payer, membership_key, pool_wanted, who_pays
from tollgate.usage.models import Account

__all__ = ["Claims", "Spender", "payers", "resolve_spender"]


class Claims(NamedTuple):
    """Who calls, and what their token (or usage event) says they belong to."""

    user_id: uuid.UUID
    org: uuid.UUID | None
    parent: uuid.UUID | None


@dataclass(frozen=True)
class Spender:
    account: Account  # locked for the rest of the transaction
    user_id: uuid.UUID
    cap_tokens: int | None  # per period, for members and sub-users; None: no cap


async def payers(db: Db, callers: Sequence[Claims]) -> list[Payer]:
    """Who pays for each caller, reading the facts for all of them in two statements."""
    keys = {
        key
        for c in callers
        if (key := membership_key(c.user_id, org=c.org, parent=c.parent)) is not None
    }
    found = await store.memberships(db, keys)
    pools = {
        c.org
        for c in callers
        if c.org is not None and pool_wanted(c.user_id, org=c.org, parent=c.parent)
    }
    live = await store.live_accounts(db, pools)
    return [
        who_pays(c.user_id, org=c.org, parent=c.parent, memberships=found, live_pools=live)
        for c in callers
    ]


async def resolve_spender(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    org: uuid.UUID | None,
    parent: uuid.UUID | None,
    free_tokens: int,
    now: datetime,
) -> Spender:
    """The caller's paying account, locked (created on the free plan if new)."""
    (payer,) = await payers(session, [Claims(user_id, org, parent)])
    if payer.refusal is not None:
        raise payer.refusal
    if payer.account_id == org:
        pool = await repo.lock_account(session, org)
        if pool is not None and pool.deleted_at is None:
            return Spender(pool, user_id, payer.cap_tokens)
        payer = Payer(user_id, None)  # the pool went away meanwhile
    account = await ensure_account(
        session, payer.account_id, kind="user", free_tokens=free_tokens, now=now
    )
    if account.deleted_at is not None:
        raise Forbidden("This account has been deleted")
    return Spender(account, user_id, payer.cap_tokens)
