"""Codes and keys that have outlived their time are refused, with a clear 4xx."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from auth_helpers import (
    MailSink,
    browser_round_trip,
    exchange,
    github_identity,
    poll,
    register,
    service_token,
)
from fastapi import FastAPI
from oauth_standin import StandinProvider
from sqlalchemy import update

from tollgate.auth.models import ApiKey, DeviceAuthorization, OAuthCode, OneTimeCode


async def age(app: FastAPI, statement: object) -> None:
    async with app.state.sessionmaker() as db, db.begin():
        await db.execute(statement)


async def test_an_expired_api_key_is_inactive(app: FastAPI, client: httpx.AsyncClient) -> None:
    user = await register(client)
    key = (
        await client.post(
            "/api/api-keys", json={"name": "k", "expires_in_days": 1}, headers=user.headers
        )
    ).json()
    await age(
        app,
        update(ApiKey)
        .where(ApiKey.id == uuid.UUID(key["id"]))
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)),
    )

    answer = await client.post(
        "/internal/api-keys/introspect",
        json={"key": key["key"]},
        headers={"Authorization": f"Bearer {await service_token(client)}"},
    )

    assert answer.json() == {"active": False}


async def test_an_expired_oauth_code_is_refused(
    app: FastAPI, client: httpx.AsyncClient, oauth_provider: StandinProvider
) -> None:
    verifier = secrets.token_urlsafe(48)
    back = await browser_round_trip(client, oauth_provider, github_identity(), verifier)
    await age(
        app,
        update(OAuthCode)
        .where(OAuthCode.used_at.is_(None))
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)),
    )

    answer = await exchange(client, back["code"], verifier)

    assert answer.status_code == 400
    assert answer.json()["type"].endswith("invalid-grant")


async def test_an_expired_reset_link_is_refused(
    app: FastAPI, client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    user = await register(client)
    await client.post("/api/auth/password/forgot", json={"email": user.email})
    token = await mail_sink.token_sent_to(user.email)
    await age(
        app,
        update(OneTimeCode)
        .where(OneTimeCode.user_id == uuid.UUID(user.id))
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)),
    )

    answer = await client.post(
        "/api/auth/password/reset", json={"token": token, "new_password": "a fresh passphrase"}
    )

    assert answer.status_code == 400
    assert answer.json()["type"].endswith("invalid-code")


async def test_an_expired_device_code_says_so(app: FastAPI, client: httpx.AsyncClient) -> None:
    started = (await client.post("/api/auth/device/code")).json()
    await age(
        app,
        update(DeviceAuthorization)
        .where(DeviceAuthorization.user_code == started["user_code"].replace("-", ""))
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)),
    )

    answer = await poll(client, started["device_code"])

    assert answer.status_code == 400
    assert answer.json()["error"] == "expired_token"
