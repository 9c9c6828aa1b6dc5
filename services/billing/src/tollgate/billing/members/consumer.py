"""Applying auth's membership events: who is in an organization, and as what.

A late or redelivered event never undoes a newer one: each row keeps the time of
the auth change applied last (the event's ``occurred_at``).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.members import repository
from tollgate.shared.messaging import Envelope, Subscription
from tollgate.shared.messaging.events import OrgMemberAdded, OrgMemberRemoved, OrgMemberUpdated

log = logging.getLogger("tollgate.billing.members")

QUEUE = "billing.org-members"
ROUTING_KEYS = ("org.member_added", "org.member_updated", "org.member_removed")


async def handle(session: AsyncSession, envelope: Envelope) -> None:
    data, at = envelope.parsed(), envelope.occurred_at
    applied = True
    if isinstance(data, OrgMemberAdded):
        applied = await repository.apply_fact(
            session, data.org_id, data.user_id, at, role=data.role, active=True
        )
    elif isinstance(data, OrgMemberUpdated):
        applied = await repository.apply_fact(
            session, data.org_id, data.user_id, at, role=data.role
        )
    elif isinstance(data, OrgMemberRemoved):
        applied = await repository.apply_fact(session, data.org_id, data.user_id, at, active=False)
    if not applied:
        log.info("stale %s %s ignored: a newer fact is kept", envelope.type, envelope.id)


def subscription() -> Subscription:
    return Subscription(QUEUE, ROUTING_KEYS, handle)
