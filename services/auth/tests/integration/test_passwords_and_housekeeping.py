from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from argon2 import PasswordHasher
from auth_helpers import PASSWORD, new_email, register
from fastapi import FastAPI

from tollgate.auth.housekeeping import sweep
from tollgate.auth.models import User, VscodeSession


async def test_a_hash_with_old_parameters_is_upgraded_at_the_next_login(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    email = new_email()
    weak_hash = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    user_id = uuid.uuid4()
    async with app.state.sessionmaker() as db, db.begin():
        db.add(
            User(
                id=user_id,
                email=email,
                password_hash=weak_hash,
                role="user",
                is_active=True,
                email_verified=False,
                permissions=[],
            )
        )

    login = await client.post("/api/auth/login-json", json={"email": email, "password": PASSWORD})

    assert login.status_code == 200
    async with app.state.sessionmaker() as db:
        stored = (await db.get(User, user_id)).password_hash  # type: ignore[union-attr]
    assert stored != weak_hash
    assert "m=19456,t=2,p=1" in stored
    again = await client.post("/api/auth/login-json", json={"email": email, "password": PASSWORD})
    assert again.status_code == 200


async def test_expired_vscode_sessions_are_swept_away(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await register(client)
    await client.post(
        "/api/vscode/session/validate",
        json={"machine_id": "old-laptop", "extension_version": "0.9.0"},
        headers=user.headers,
    )
    async with app.state.sessionmaker() as db, db.begin():
        row = (
            await db.execute(
                VscodeSession.__table__.update()
                .where(
                    VscodeSession.machine_id == "old-laptop",
                    VscodeSession.user_id == uuid.UUID(user.id),
                )
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
                .returning(VscodeSession.id)
            )
        ).first()
        assert row is not None

    async with app.state.sessionmaker() as db, db.begin():
        await sweep(db)

    async with app.state.sessionmaker() as db:
        assert await db.get(VscodeSession, row[0]) is None
