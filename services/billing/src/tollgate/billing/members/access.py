"""Which account a caller acts on, and whether they may: decided from current membership.

Anyone acts on their own account. On an organization's account, any current
member may look (the subscription, invoices, payments); only its owners may
change what the organization pays for (subscribe, change plan, cancel, resume,
the billing portal, where cards and cancellations are managed too). Admins run
the people side of an organization, not its money. A member removed a moment
ago, whatever their token still says, is a stranger: 404, like any outsider.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.billing.members import repository
from tollgate.shared.errors import Forbidden, NotFound
from tollgate.shared.security import Principal

__all__ = ["Access", "Account", "account_of"]


class Access(enum.Enum):
    READ = "read"
    MANAGE = "manage"


@dataclass(frozen=True)
class Account:
    id: uuid.UUID
    org_id: uuid.UUID | None


async def account_of(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID | None, access: Access
) -> Account:
    """The account the caller acts on: their own, or ``org_id``'s if they may."""
    if principal.parent is not None:
        raise Forbidden("A sub-user's billing is managed by its parent account")
    if org_id is None:
        return Account(principal.user_id, None)
    member = await repository.get(session, org_id, principal.user_id)
    if member is None or not member.active:
        raise NotFound("No such organization among yours", type_slug="no-such-organization")
    if access is Access.MANAGE and member.role != "owner":
        raise Forbidden(
            "Only the organization's owners may change or cancel what it pays for",
            type_slug="org-owner-only",
        )
    return Account(org_id, org_id)
