from __future__ import annotations

import asyncio
import statistics
import time

import httpx
from auth_helpers import PASSWORD, new_email, register


def without_instance(body: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in body.items() if k != "instance"}


async def test_an_unknown_email_and_a_wrong_password_get_the_same_answer(
    client: httpx.AsyncClient,
) -> None:
    user = await register(client)

    unknown = await client.post(
        "/api/auth/login-json", json={"email": new_email(), "password": PASSWORD}
    )
    wrong = await client.post(
        "/api/auth/login-json", json={"email": user.email, "password": "wrong password!"}
    )

    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


async def test_brute_force_on_one_account_is_throttled(client: httpx.AsyncClient) -> None:
    user = await register(client)
    for _ in range(5):
        answer = await client.post(
            "/api/auth/login-json", json={"email": user.email, "password": "guess guess guess"}
        )
        assert answer.status_code == 401

    locked = await client.post(
        "/api/auth/login-json", json={"email": user.email, "password": PASSWORD}
    )

    # Even the right password waits: the lock is on the account, not on the guess.
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) >= 1
    assert locked.headers["content-type"] == "application/problem+json"


async def test_one_address_spraying_many_accounts_is_throttled(client: httpx.AsyncClient) -> None:
    attacker = {"X-Forwarded-For": "203.0.113.9"}
    statuses = []
    for _ in range(21):
        answer = await client.post(
            "/api/auth/login-json",
            json={"email": new_email(), "password": "guess guess guess"},
            headers=attacker,
        )
        statuses.append(answer.status_code)

    assert statuses[:20] == [401] * 20
    assert statuses[20] == 429


async def test_unknown_emails_are_throttled_like_real_ones(client: httpx.AsyncClient) -> None:
    email = new_email()
    for _ in range(5):
        await client.post("/api/auth/login-json", json={"email": email, "password": "x" * 12})

    answer = await client.post("/api/auth/login-json", json={"email": email, "password": "x" * 12})

    assert answer.status_code == 429


async def test_weak_passwords_are_refused_and_nothing_is_written(
    client: httpx.AsyncClient,
) -> None:
    for weak in ("short", "password123", "aaaaaaaa", "x" * 129):
        email = new_email()
        answer = await client.post(
            "/api/auth/register", json={"email": email, "password": weak, "name": "Bob"}
        )
        assert answer.status_code == 422, weak
        assert answer.headers["content-type"] == "application/problem+json"
        login = await client.post("/api/auth/login-json", json={"email": email, "password": weak})
        assert login.status_code == 401


async def test_malformed_email_and_unknown_fields_are_refused(client: httpx.AsyncClient) -> None:
    bad_email = await client.post(
        "/api/auth/register", json={"email": "not-an-email", "password": PASSWORD}
    )
    extra_field = await client.post(
        "/api/auth/register",
        json={"email": new_email(), "password": PASSWORD, "role": "superadmin"},
    )

    assert bad_email.status_code == 422
    assert extra_field.status_code == 422
    assert "role" in extra_field.json()["detail"]


async def test_a_second_account_with_the_same_email_is_refused(client: httpx.AsyncClient) -> None:
    user = await register(client)

    again = await client.post(
        "/api/auth/register", json={"email": user.email.upper(), "password": PASSWORD}
    )

    assert again.status_code == 409


async def test_an_oversized_body_is_refused(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/api/auth/register",
        json={"email": new_email(), "password": PASSWORD, "name": "x" * 100_000},
    )

    assert answer.status_code == 413
    assert answer.json()["type"].endswith("payload-too-large")


async def test_an_unknown_refresh_token_is_a_clean_401(client: httpx.AsyncClient) -> None:
    answer = await client.post("/api/auth/refresh", json={"refresh_token": "rt_made-up"})

    assert answer.status_code == 401
    assert answer.json()["type"].endswith("invalid-refresh-token")


async def test_a_garbage_bearer_token_is_a_clean_401(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/auth/me", headers={"Authorization": "Bearer not.a.jwt"})

    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"


async def test_an_unknown_email_costs_as_much_time_as_a_wrong_password(
    client: httpx.AsyncClient,
) -> None:
    async def timed(email: str) -> float:
        start = time.perf_counter()
        answer = await client.post(
            "/api/auth/login-json", json={"email": email, "password": "not the password"}
        )
        assert answer.status_code == 401
        return time.perf_counter() - start

    known = [await timed((await register(client)).email) for _ in range(5)]
    unknown = [await timed(new_email()) for _ in range(5)]

    # Skipping the hash for unknown accounts would make them ~50x faster; allow noise.
    assert statistics.median(unknown) > statistics.median(known) / 4


async def test_two_simultaneous_registrations_of_one_address_make_one_account(
    client: httpx.AsyncClient,
) -> None:
    email = new_email()
    body = {"email": email, "password": PASSWORD}

    answers = await asyncio.gather(
        client.post("/api/auth/register", json=body),
        client.post("/api/auth/register", json=body),
        client.post("/api/auth/register", json=body),
    )

    assert sorted(a.status_code for a in answers) == [201, 409, 409]


async def test_text_the_database_cannot_store_is_a_400_and_nothing_is_written(
    client: httpx.AsyncClient,
) -> None:
    email = new_email()

    registered = await client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "name": "a\x00b"}
    )
    form_login = await client.post(
        "/api/auth/login", data={"username": "x\x00@example.com", "password": PASSWORD}
    )

    # The shared input guard's answer, the same on every service.
    assert registered.status_code == 400
    assert form_login.status_code == 400
    login = await client.post("/api/auth/login-json", json={"email": email, "password": PASSWORD})
    assert login.status_code == 401
