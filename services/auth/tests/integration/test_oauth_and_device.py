from __future__ import annotations

import asyncio
import secrets

import httpx
from auth_helpers import (
    PASSWORD,
    VSCODE_REDIRECT,
    MailSink,
    browser_round_trip,
    exchange,
    github_identity,
    poll,
    register,
)
from oauth_standin import StandinProvider

from tollgate.auth.oauth.pkce import s256


async def test_vscode_signs_in_with_github_using_pkce(
    client: httpx.AsyncClient, oauth_provider: StandinProvider
) -> None:
    verifier = secrets.token_urlsafe(48)
    who = github_identity()

    back = await browser_round_trip(client, oauth_provider, who, verifier)
    tokens = await exchange(client, back["code"], verifier)

    assert back["state"] == "extension-state"
    assert tokens.status_code == 200, tokens.text
    me = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"}
    )
    assert me.json()["email"] == who.email
    assert me.json()["email_verified"] is True


async def test_google_sign_in_works_the_same_way(
    client: httpx.AsyncClient, oauth_provider: StandinProvider
) -> None:
    verifier = secrets.token_urlsafe(48)

    back = await browser_round_trip(
        client, oauth_provider, github_identity(), verifier, name="google"
    )

    assert (await exchange(client, back["code"], verifier)).status_code == 200


async def test_a_wrong_verifier_gets_nothing_and_spends_the_code(
    client: httpx.AsyncClient, oauth_provider: StandinProvider
) -> None:
    verifier = secrets.token_urlsafe(48)
    back = await browser_round_trip(client, oauth_provider, github_identity(), verifier)

    wrong = await exchange(client, back["code"], secrets.token_urlsafe(48))
    right_too_late = await exchange(client, back["code"], verifier)

    assert wrong.status_code == 400
    assert wrong.json()["type"].endswith("invalid-grant")
    assert right_too_late.status_code == 400


async def test_a_reused_code_is_refused_and_ends_the_session_it_started(
    client: httpx.AsyncClient, oauth_provider: StandinProvider
) -> None:
    verifier = secrets.token_urlsafe(48)
    back = await browser_round_trip(client, oauth_provider, github_identity(), verifier)
    first = await exchange(client, back["code"], verifier)

    second = await exchange(client, back["code"], verifier)

    assert first.status_code == 200
    assert second.status_code == 400
    headers = {"Authorization": f"Bearer {first.json()['access_token']}"}
    assert (await client.get("/api/auth/me", headers=headers)).status_code == 401


async def test_an_unregistered_redirect_uri_is_refused_before_any_redirect(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get(
        "/api/auth/oauth/github/authorize",
        params={
            "redirect_uri": "https://evil.example.com/steal",
            "code_challenge": s256(secrets.token_urlsafe(48)),
        },
    )

    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert answer.json()["type"].endswith("invalid-redirect-uri")


async def test_plain_pkce_is_refused(client: httpx.AsyncClient) -> None:
    answer = await client.get(
        "/api/auth/oauth/github/authorize",
        params={
            "redirect_uri": VSCODE_REDIRECT,
            "code_challenge": "a" * 43,
            "code_challenge_method": "plain",
        },
    )

    assert answer.status_code == 400
    assert answer.json()["type"].endswith("invalid-pkce")


async def test_a_forged_callback_state_is_refused(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/auth/oauth/github/callback", params={"state": "x", "code": "y"})

    assert answer.status_code == 400
    assert answer.json()["type"].endswith("invalid-state")


async def test_a_verified_provider_email_signs_into_the_existing_account(
    client: httpx.AsyncClient, oauth_provider: StandinProvider
) -> None:
    user = await register(client)
    verifier = secrets.token_urlsafe(48)

    back = await browser_round_trip(client, oauth_provider, github_identity(user.email), verifier)
    tokens = await exchange(client, back["code"], verifier)

    assert tokens.json()["user"]["id"] == user.id


async def test_an_unverified_provider_email_does_not_take_over_an_account(
    client: httpx.AsyncClient, oauth_provider: StandinProvider
) -> None:
    user = await register(client)
    verifier = secrets.token_urlsafe(48)

    back = await browser_round_trip(
        client, oauth_provider, github_identity(user.email, verified=False), verifier
    )

    assert back["error"] == "access_denied"
    assert "code" not in back


async def test_a_signed_in_user_links_github_and_cannot_unlink_the_last_way_in(
    client: httpx.AsyncClient, oauth_provider: StandinProvider
) -> None:
    user = await register(client)
    verifier = secrets.token_urlsafe(48)
    link = await client.post(
        "/api/users/oauth-accounts",
        json={
            "provider": "github",
            "redirect_uri": VSCODE_REDIRECT,
            "code_challenge": s256(verifier),
        },
        headers=user.headers,
    )
    who = github_identity()  # a GitHub address unlike the account's own
    back = await browser_round_trip(
        client, oauth_provider, who, verifier, start=link.json()["authorize_url"]
    )
    assert (await exchange(client, back["code"], verifier)).json()["user"]["id"] == user.id
    linked = (await client.get("/api/users/oauth-accounts", headers=user.headers)).json()
    assert [a["provider"] for a in linked] == ["github"]

    # A GitHub-only account keeps its one way in.
    verifier2 = secrets.token_urlsafe(48)
    back2 = await browser_round_trip(client, oauth_provider, github_identity(), verifier2)
    github_only = await exchange(client, back2["code"], verifier2)
    only_headers = {"Authorization": f"Bearer {github_only.json()['access_token']}"}
    only = (await client.get("/api/users/oauth-accounts", headers=only_headers)).json()
    refused = await client.delete(
        f"/api/users/oauth-accounts/{only[0]['id']}", headers=only_headers
    )
    assert refused.status_code == 409
    allowed = await client.delete(
        f"/api/users/oauth-accounts/{linked[0]['id']}", headers=user.headers
    )
    assert allowed.status_code == 204


async def test_a_remote_vscode_signs_in_with_the_device_flow(client: httpx.AsyncClient) -> None:
    user = await register(client)
    started = (await client.post("/api/auth/device/code")).json()
    assert started["verification_uri_complete"].endswith(started["user_code"])

    pending = await poll(client, started["device_code"])
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"

    approved = await client.post(
        "/api/auth/device/approve",
        json={"user_code": started["user_code"].lower(), "approve": True},
        headers=user.headers,
    )
    assert approved.status_code == 204

    await asyncio.sleep(1.1)  # the poll interval of the test settings
    tokens = await poll(client, started["device_code"])
    assert tokens.status_code == 200
    assert tokens.json()["user"]["id"] == user.id
    again = await poll(client, started["device_code"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


async def test_a_device_polling_too_fast_is_told_to_slow_down(client: httpx.AsyncClient) -> None:
    started = (await client.post("/api/auth/device/code")).json()

    first = await poll(client, started["device_code"])
    second = await poll(client, started["device_code"])

    assert first.json()["error"] == "authorization_pending"
    assert second.json()["error"] == "slow_down"


async def test_a_denied_device_gets_access_denied(client: httpx.AsyncClient) -> None:
    user = await register(client)
    started = (await client.post("/api/auth/device/code")).json()

    await client.post(
        "/api/auth/device/approve",
        json={"user_code": started["user_code"], "approve": False},
        headers=user.headers,
    )

    answer = await poll(client, started["device_code"])
    assert answer.json()["error"] == "access_denied"


async def test_the_old_device_page_sends_people_to_the_web_app_with_their_code(
    client: httpx.AsyncClient,
) -> None:
    started = (await client.post("/api/auth/device/code")).json()
    assert started["verification_uri"].endswith("/device")

    page = await client.get("/api/auth/device", params={"user_code": started["user_code"]})

    assert page.status_code == 303
    assert page.headers["location"].endswith(f"/device?user_code={started['user_code']}")
    assert (await client.post("/api/auth/device", data={"user_code": "X"})).status_code == 405


async def test_a_squatter_of_an_unproven_address_loses_it_to_the_mailbox_owner(
    client: httpx.AsyncClient, oauth_provider: StandinProvider
) -> None:
    squatter = await register(client)  # registered the address, never proved it
    verifier = secrets.token_urlsafe(48)

    back = await browser_round_trip(
        client, oauth_provider, github_identity(squatter.email), verifier
    )
    owner = await exchange(client, back["code"], verifier)

    assert owner.json()["user"]["id"] == squatter.id
    assert (await client.get("/api/auth/me", headers=squatter.headers)).status_code == 401
    password_login = await client.post(
        "/api/auth/login-json", json={"email": squatter.email, "password": PASSWORD}
    )
    assert password_login.status_code == 401


async def test_a_proven_account_keeps_its_password_when_github_joins_it(
    client: httpx.AsyncClient, oauth_provider: StandinProvider, mail_sink: MailSink
) -> None:
    user = await register(client)
    await client.post("/api/auth/verify-email/request", headers=user.headers)
    token = await mail_sink.token_sent_to(user.email)
    await client.post("/api/auth/verify-email/confirm", json={"token": token})
    verifier = secrets.token_urlsafe(48)

    back = await browser_round_trip(client, oauth_provider, github_identity(user.email), verifier)
    await exchange(client, back["code"], verifier)

    assert (await client.get("/api/auth/me", headers=user.headers)).status_code == 200
    login = await client.post(
        "/api/auth/login-json", json={"email": user.email, "password": PASSWORD}
    )
    assert login.status_code == 200
