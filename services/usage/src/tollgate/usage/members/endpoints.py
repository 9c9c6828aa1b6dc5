"""``/api/tokens/caps``: how much of a shared pool one member or sub-user may spend."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from tollgate.shared.db import SessionDep
from tollgate.shared.errors import NotFound
from tollgate.shared.security import CurrentUser
from tollgate.usage.allocation.repository import set_member_cap
from tollgate.usage.analytics.schemas import CapIn, CapOut
from tollgate.usage.ledger import repository as ledger

router = APIRouter(prefix="/api/tokens/caps", tags=["usage"])

ORG_MANAGERS = frozenset({"owner", "admin"})


@router.put("/{user_id}", response_model=CapOut)
async def set_cap(
    user_id: uuid.UUID, body: CapIn, user: CurrentUser, session: SessionDep
) -> CapOut:
    """Cap a sub-user's (as its parent) or an org member's (as an org owner or admin) spending."""
    caller = user.user_id
    sub_user = await ledger.member(session, caller, user_id)
    if sub_user is not None and sub_user.kind == "sub_user":
        await set_member_cap(session, caller, user_id, "sub_user", body.cap_tokens)
        return CapOut(account_id=caller, user_id=user_id, cap_tokens=body.cap_tokens)
    if user.org is not None:
        manager = await ledger.member(session, user.org, caller)
        target = await ledger.member(session, user.org, user_id)
        may_manage = user.has_role("admin") or (
            manager is not None and manager.active and manager.role in ORG_MANAGERS
        )
        if may_manage and target is not None and target.active:
            await set_member_cap(session, user.org, user_id, "org", body.cap_tokens)
            return CapOut(account_id=user.org, user_id=user_id, cap_tokens=body.cap_tokens)
    raise NotFound("No sub-user or organization member of yours with this id")
