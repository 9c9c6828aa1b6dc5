from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.models import VscodeSession
from tollgate.shared.errors import NotFound


async def record_vscode_session(
    db: AsyncSession,
    user_id: uuid.UUID,
    machine_id: str,
    extension_version: str,
    auth_session_id: uuid.UUID | None,
    ttl: timedelta,
) -> VscodeSession:
    """Create the machine's record or refresh it: one record per (user, machine)."""
    now = datetime.now(UTC)
    insert_stmt = insert(VscodeSession).values(
        id=uuid.uuid4(),
        user_id=user_id,
        machine_id=machine_id,
        extension_version=extension_version,
        auth_session_id=auth_session_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + ttl,
    )
    stmt = insert_stmt.on_conflict_do_update(
        index_elements=[VscodeSession.user_id, VscodeSession.machine_id],
        set_={
            "extension_version": insert_stmt.excluded.extension_version,
            "auth_session_id": insert_stmt.excluded.auth_session_id,
            "last_seen_at": insert_stmt.excluded.last_seen_at,
            "expires_at": insert_stmt.excluded.expires_at,
        },
    ).returning(VscodeSession)
    row = (await db.scalars(stmt, execution_options={"populate_existing": True})).one()
    return row


async def vscode_sessions_of(db: AsyncSession, user_id: uuid.UUID) -> list[VscodeSession]:
    rows = await db.scalars(
        select(VscodeSession)
        .where(VscodeSession.user_id == user_id, VscodeSession.expires_at > datetime.now(UTC))
        .order_by(VscodeSession.last_seen_at.desc())
    )
    return list(rows)


async def remove_vscode_session(
    db: AsyncSession, user_id: uuid.UUID, record_id: uuid.UUID
) -> VscodeSession:
    row: VscodeSession | None = await db.scalar(
        delete(VscodeSession)
        .where(VscodeSession.id == record_id, VscodeSession.user_id == user_id)
        .returning(VscodeSession)
    )
    if row is None:
        raise NotFound("No such VS Code session")
    return row
