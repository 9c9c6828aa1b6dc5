"""Deleting an account: what it owned goes with it, and every other service is told."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.accounts.repository import UserRepository
from tollgate.auth.api_keys.service import ApiKeys
from tollgate.auth.events import publish
from tollgate.auth.models import User
from tollgate.auth.orgs.service import Organizations
from tollgate.auth.sessions.service import Sessions
from tollgate.shared.messaging.events import UserDeleted


async def erase_account(db: AsyncSession, sessions: Sessions, user: User) -> None:
    """Erase personal data and end every way in; the row stays so references keep resolving.

    A parent's sub-users are erased with it: they spend from an account that is gone.
    The organization is settled first, since its sole owner may be refused (409).
    """
    await Organizations(db).leave_with_account(user)
    for child in await UserRepository(db).children(user.id):
        await erase_account(db, sessions, child)
    user.email = None
    user.name = None
    user.password_hash = None
    user.is_active = False
    user.deleted_at = datetime.now(UTC)
    await ApiKeys(db).revoke_all(user.id)
    await sessions.revoke_user_everywhere(user.id, reason="account-deleted")
    await publish(db, user.id, UserDeleted(user_id=user.id))
