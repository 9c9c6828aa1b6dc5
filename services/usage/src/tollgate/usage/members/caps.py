"""Who may cap whom, decided from the members rows auth's events keep current.

The token's ``org`` claim can be 15 minutes old, so it decides nothing here: an
admin demoted a moment ago, or a member removed, has lost the right as soon as
the event arrived. A parent caps its own sub-users; an organization's owners cap
anyone in it and its admins cap everyone but the owners (as auth lets admins
act on members but not on owners).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.shared.errors import Forbidden, NotFound
from tollgate.shared.security import Principal
from tollgate.usage.ledger import repository as ledger
from tollgate.usage.members import repository as repo

__all__ = ["ORG_MANAGERS", "cap_member"]

ORG_MANAGERS = frozenset({"owner", "admin"})


async def cap_member(
    session: AsyncSession, caller: Principal, user_id: uuid.UUID, cap_tokens: int | None
) -> uuid.UUID:
    """Set the cap and return the account it applies in; 403 or 404 if the caller may not."""
    sub_user = await ledger.member(session, caller.user_id, user_id)
    if sub_user is not None and sub_user.kind == "sub_user":
        await repo.set_member_cap(session, caller.user_id, user_id, "sub_user", cap_tokens)
        return caller.user_id
    for target in await repo.org_memberships(session, user_id):
        org = target.account_id
        manager = await ledger.member(session, org, caller.user_id)
        role = manager.role if manager is not None and manager.active else None
        if caller.has_role("admin"):
            role = "owner"  # the platform's admins act as an owner would
        if role is None:
            continue  # not in this organization: it stays invisible
        if role not in ORG_MANAGERS:
            raise Forbidden(
                "Only the organization's owners and admins may set caps",
                type_slug="not-an-org-manager",
            )
        if target.role == "owner" and role != "owner":
            raise Forbidden(
                "Only an owner may cap an owner of the organization", type_slug="owner-only"
            )
        await repo.set_member_cap(session, org, user_id, "org", cap_tokens)
        return org
    raise NotFound("No sub-user or organization member of yours with this id")
