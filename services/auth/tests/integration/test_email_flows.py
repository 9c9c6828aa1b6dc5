from __future__ import annotations

import httpx
from auth_helpers import PASSWORD, MailSink, new_email, register

NEW_PASSWORD = "another fine passphrase"


async def test_a_forgotten_password_is_reset_through_the_mailed_link(
    client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    user = await register(client)

    asked = await client.post("/api/auth/password/forgot", json={"email": user.email})
    assert asked.status_code == 202
    token = await mail_sink.token_sent_to(user.email)
    reset = await client.post(
        "/api/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )

    assert reset.status_code == 204
    # Every session ends with a reset: whoever knew the old password is out.
    assert (await client.get("/api/auth/me", headers=user.headers)).status_code == 401
    login = await client.post(
        "/api/auth/login-json", json={"email": user.email, "password": NEW_PASSWORD}
    )
    assert login.status_code == 200


async def test_a_reset_link_works_once(client: httpx.AsyncClient, mail_sink: MailSink) -> None:
    user = await register(client)
    await client.post("/api/auth/password/forgot", json={"email": user.email})
    token = await mail_sink.token_sent_to(user.email)
    body = {"token": token, "new_password": NEW_PASSWORD}
    await client.post("/api/auth/password/reset", json=body)

    again = await client.post("/api/auth/password/reset", json=body)

    assert again.status_code == 400
    assert again.json()["type"].endswith("invalid-code")


async def test_reset_requests_answer_alike_for_unknown_addresses(
    client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    user = await register(client)
    stranger = new_email()

    known = await client.post("/api/auth/password/forgot", json={"email": user.email})
    unknown = await client.post("/api/auth/password/forgot", json={"email": stranger})

    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    await mail_sink.token_sent_to(user.email)
    assert mail_sink.count_to(stranger) == 0


async def test_reset_requests_cannot_flood_a_mailbox(
    client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    user = await register(client)
    answers = [
        (await client.post("/api/auth/password/forgot", json={"email": user.email})).status_code
        for _ in range(4)
    ]

    assert answers == [202, 202, 202, 429]


async def test_a_weak_new_password_is_refused_and_the_link_still_works(
    client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    user = await register(client)
    await client.post("/api/auth/password/forgot", json={"email": user.email})
    token = await mail_sink.token_sent_to(user.email)

    weak = await client.post(
        "/api/auth/password/reset", json={"token": token, "new_password": "short"}
    )
    good = await client.post(
        "/api/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )

    assert weak.status_code == 422
    assert good.status_code == 204


async def test_an_email_address_is_verified_through_the_mailed_link(
    client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    user = await register(client)
    assert (await client.get("/api/auth/me", headers=user.headers)).json()[
        "email_verified"
    ] is False

    await client.post("/api/auth/verify-email/request", headers=user.headers)
    token = await mail_sink.token_sent_to(user.email)
    confirmed = await client.post("/api/auth/verify-email/confirm", json={"token": token})

    assert confirmed.status_code == 204
    assert (await client.get("/api/auth/me", headers=user.headers)).json()["email_verified"] is True
    bogus = await client.post("/api/auth/verify-email/confirm", json={"token": "nope"})
    assert bogus.status_code == 400


async def test_the_old_password_no_longer_signs_in_after_a_reset(
    client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    user = await register(client)
    await client.post("/api/auth/password/forgot", json={"email": user.email})
    token = await mail_sink.token_sent_to(user.email)
    await client.post(
        "/api/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )

    old = await client.post(
        "/api/auth/login-json", json={"email": user.email, "password": PASSWORD}
    )

    assert old.status_code == 401
