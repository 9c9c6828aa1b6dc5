"""``/api/tokens/caps``: how much of a shared pool one member or sub-user may spend."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from tollgate.shared.db import SessionDep
from tollgate.shared.security import CurrentUser
from tollgate.usage.analytics.schemas import CapIn, CapOut
from tollgate.usage.members.caps import cap_member

router = APIRouter(prefix="/api/tokens/caps", tags=["usage"])


@router.put("/{user_id}", response_model=CapOut)
async def set_cap(
    user_id: uuid.UUID, body: CapIn, user: CurrentUser, session: SessionDep
) -> CapOut:
    """Cap a sub-user's (as its parent) or an org member's (as an org owner or admin) spending."""
    account = await cap_member(session, user, user_id, body.cap_tokens)
    return CapOut(account_id=account, user_id=user_id, cap_tokens=body.cap_tokens)
