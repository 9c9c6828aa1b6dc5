"""Which account a caller spends from, and the cap on what they may spend of it.

A sub-user (token claim ``parent``) spends from the parent's account; an
organization member (claim ``org``) from the organization's pool once billing
has announced the organization's subscription; everyone else from their own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.errors import Forbidden
from tollgate.usage.ledger import repository as repo
from tollgate.usage.ledger.service import ensure_account
from tollgate.usage.models import Account

__all__ = ["Spender", "resolve_spender"]


@dataclass(frozen=True)
class Spender:
    account: Account  # locked for the rest of the transaction
    user_id: uuid.UUID
    cap_tokens: int | None  # per period, for members and sub-users; None: no cap


async def resolve_spender(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    org: uuid.UUID | None,
    parent: uuid.UUID | None,
    free_tokens: int,
    now: datetime,
) -> Spender:
    if parent is not None and parent != user_id:
        account = await ensure_account(
            session, parent, kind="user", free_tokens=free_tokens, now=now
        )
        membership = await repo.member(session, parent, user_id)
        if membership is not None and not membership.active:
            raise Forbidden("This sub-user has been disabled by its parent account")
        _refuse_deleted(account)
        return Spender(account, user_id, membership.cap_tokens if membership else None)
    if org is not None:
        membership = await repo.member(session, org, user_id)
        if membership is None or membership.active:
            pool = await repo.lock_account(session, org)
            if pool is not None and pool.deleted_at is None:
                return Spender(pool, user_id, membership.cap_tokens if membership else None)
    account = await ensure_account(session, user_id, kind="user", free_tokens=free_tokens, now=now)
    _refuse_deleted(account)
    return Spender(account, user_id, None)


def _refuse_deleted(account: Account) -> None:
    if account.deleted_at is not None:
        raise Forbidden("This account has been deleted")
