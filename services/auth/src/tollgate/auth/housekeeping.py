"""Periodic chores: rotate the signing key when due, and drop records nobody can use any more."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from tollgate.auth.models import (
    DeviceAuthorization,
    OAuthCode,
    OAuthFlow,
    OneTimeCode,
    Session,
    VscodeSession,
    messaging,
)
from tollgate.auth.signing.keyring import KeyRing
from tollgate.shared.periodic import Periodic

log = logging.getLogger("tollgate.auth.housekeeping")

INTERVAL_SECONDS = 60.0
# Ended sessions stay a while so admins can see recent sign-outs and reuse incidents.
KEEP_ENDED_SESSIONS = timedelta(days=7)
KEEP_PUBLISHED_EVENTS = timedelta(days=7)


async def sweep(db: AsyncSession) -> None:
    now = datetime.now(UTC)
    await db.execute(delete(VscodeSession).where(VscodeSession.expires_at <= now))
    await db.execute(delete(OAuthFlow).where(OAuthFlow.expires_at <= now))
    await db.execute(delete(OAuthCode).where(OAuthCode.expires_at <= now))
    await db.execute(delete(DeviceAuthorization).where(DeviceAuthorization.expires_at <= now))
    await db.execute(delete(OneTimeCode).where(OneTimeCode.expires_at <= now))
    await db.execute(delete(Session).where(Session.expires_at <= now - KEEP_ENDED_SESSIONS))
    await db.execute(delete(Session).where(Session.revoked_at <= now - KEEP_ENDED_SESSIONS))
    outbox = messaging.outbox
    await db.execute(delete(outbox).where(outbox.c.published_at <= now - KEEP_PUBLISHED_EVENTS))


def housekeeping(app: FastAPI) -> Periodic:
    """The chores every ``INTERVAL_SECONDS``, the first one interval after start."""
    keyring: KeyRing = app.state.keyring

    async def chores() -> None:
        await keyring.ensure_active()
        async with app.state.sessionmaker() as db, db.begin():
            await sweep(db)

    return Periodic("auth-housekeeping", chores, INTERVAL_SECONDS, wait_first=True)
