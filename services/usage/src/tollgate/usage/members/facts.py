"""Keeping auth's facts about members: roles, caps, permissions, who is active.

Usage authorizes caps and reservations from these rows, not from the token's
``org`` claim, which can be 15 minutes old. Each row keeps the time of the auth
change applied last (the event's ``occurred_at``), so a late or redelivered
event never undoes a newer one: a member removed, then re-added, stays added
whatever order the two events arrive in.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.messaging import Envelope
from tollgate.shared.messaging.events import (
    OrgMemberAdded,
    OrgMemberRemoved,
    OrgMemberUpdated,
    SubUserUpdated,
    UserRegistered,
)
from tollgate.usage.members import repository as repo

__all__ = ["FACT_EVENTS", "apply_member_fact", "sub_user_registered"]

log = logging.getLogger("tollgate.usage.members")

FACT_EVENTS = ("org.member_added", "org.member_updated", "org.member_removed", "sub_user.updated")


async def apply_member_fact(session: AsyncSession, envelope: Envelope) -> None:
    data, at = envelope.parsed(), envelope.occurred_at
    applied = True
    if isinstance(data, OrgMemberAdded):
        applied = await repo.apply_fact(
            session, data.org_id, data.user_id, at, kind="org", role=data.role, active=True
        )
    elif isinstance(data, OrgMemberUpdated):
        applied = await repo.apply_fact(
            session, data.org_id, data.user_id, at, kind="org", role=data.role
        )
    elif isinstance(data, OrgMemberRemoved):
        applied = await repo.apply_fact(
            session, data.org_id, data.user_id, at, kind="org", active=False
        )
    elif isinstance(data, SubUserUpdated):
        applied = await repo.apply_fact(
            session,
            data.parent_user_id,
            data.user_id,
            at,
            kind="sub_user",
            active=data.is_active,
            cap_tokens=data.token_limit,
            permissions=sorted(data.permissions),
        )
    if not applied:
        log.info("stale %s %s ignored: a newer fact is kept", envelope.type, envelope.id)


async def sub_user_registered(session: AsyncSession, envelope: Envelope) -> None:
    """A new sub-user spends from its parent's account, on the terms it was created with."""
    event = UserRegistered.model_validate(envelope.data)
    assert event.parent_user_id is not None
    cap = envelope.data.get("token_limit")
    permissions = envelope.data.get("permissions")
    await repo.apply_fact(
        session,
        event.parent_user_id,
        event.user_id,
        envelope.occurred_at,
        kind="sub_user",
        active=True,
        cap_tokens=cap if isinstance(cap, int) and cap >= 0 else None,
        permissions=sorted(str(p) for p in permissions) if isinstance(permissions, list) else None,
    )
