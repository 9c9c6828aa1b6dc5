"""Journeys of a person's account in a real browser: sign-up to sign-in, a forgotten
password, a device of the extension, and what the pages refuse."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from conftest import eventually

PASSWORD = "a long enough passphrase 1"


def new_email() -> str:
    return f"web-{secrets.token_hex(4)}@example.com"


async def sign_up(visitor: Any, email: str, password: str = PASSWORD) -> None:
    await visitor.open("/")
    await visitor.look("front page")
    await visitor.click_link("Create an account")
    await visitor.look("sign up")
    await visitor.fill("Name", "Ada Lovelace")
    await visitor.fill("Email", email)
    await visitor.fill("Password", password)
    await visitor.submit("Create account")


async def sign_in(visitor: Any, email: str, password: str = PASSWORD) -> None:
    await visitor.fill("Email", email)
    await visitor.fill("Password", password)
    await visitor.submit("Sign in")


async def test_a_new_person_signs_up_confirms_the_mailed_link_and_signs_in_again(
    visit: Any, outside: Any, stack: Any
) -> None:
    person = await visit()
    email = new_email()

    await sign_up(person, email)
    assert "We sent a confirmation link to " + email in await person.text()
    assert "Please confirm" in await person.text()
    await person.look("overview unconfirmed")

    token = await eventually(lambda: outside.mail.token_sent_to(email, "/verify-email"))
    await person.open(f"/verify-email?token={token}")
    await person.look("confirm address")
    await person.submit("Confirm my address")
    assert "Your email address is confirmed." in await person.text()
    assert "confirmed" in await person.text()
    await person.look("overview confirmed")

    await person.submit("Sign out")
    assert person.page.url.endswith("/sign-in")
    await person.look("signed out")
    await sign_in(person, email)
    assert f"Signed in as {email}" in await person.text()

    # The same link a second time: a page that says so, not an error document.
    await person.open(f"/verify-email?token={token}")
    await person.submit("Confirm my address")
    assert person.last is not None and person.last.status == 400
    assert "This link no longer works" in await person.text()
    await person.look("link already used")


async def test_a_wrong_password_is_told_on_the_sign_in_page(visit: Any) -> None:
    person = await visit(phone=True)
    email = new_email()
    await sign_up(person, email)
    await person.submit("Sign out")

    await sign_in(person, email, "not the password at all")

    assert person.last is not None and person.last.status == 401
    assert "Sign in" in await person.page.title()
    await person.look("wrong password")


async def test_a_forgotten_password_is_reset_by_mail_and_the_old_one_and_sessions_stop_working(
    visit: Any, outside: Any
) -> None:
    email = new_email()
    laptop = await visit(name="laptop")
    await sign_up(laptop, email)
    phone = await visit(phone=True, name="phone")
    await phone.open("/sign-in")
    await phone.look("sign in")
    await phone.click_link("Forgot your password?")
    await phone.look("forgot password")
    await phone.fill("Email", email)
    await phone.submit("Email me a link")
    assert "a reset link is on its way" in await phone.text()
    await phone.look("reset link sent")

    token = await eventually(lambda: outside.mail.token_sent_to(email, "/reset-password"))
    await phone.open(f"/reset-password?token={token}")
    await phone.look("choose new password")
    await phone.fill("New password", "a brand new passphrase 2")
    await phone.submit("Set new password")
    assert "Your password is changed" in await phone.text()
    await phone.look("password changed")

    # The laptop's session ended with the reset: its next page asks it to sign in.
    await laptop.open("/")
    assert laptop.page.url.endswith("/sign-in?next=%2F") or "/sign-in" in laptop.page.url
    await sign_in(laptop, email, PASSWORD)
    assert laptop.last is not None and laptop.last.status == 401
    await sign_in(laptop, email, "a brand new passphrase 2")
    assert f"Signed in as {email}" in await laptop.text() or "Please confirm" in await laptop.text()

    # The link works once.
    await phone.open(f"/reset-password?token={token}")
    await phone.fill("New password", "yet another passphrase 3")
    await phone.submit("Set new password")
    assert "This link no longer works" in await phone.text()
    await phone.look("reset link used")


async def test_the_extension_device_flow_is_approved_in_the_browser_and_the_poll_gets_tokens(
    visit: Any, gateway: httpx.AsyncClient
) -> None:
    person = await visit()
    email = new_email()
    await sign_up(person, email)
    await person.submit("Sign out")

    started = (await gateway.post("/api/auth/device/code")).json()
    # The extension opens the address it was given; the old bare page sends it here too.
    await person.open(started["verification_uri_complete"].removeprefix(person.base_url))
    assert "/sign-in?next=" in person.page.url
    await person.look("sign in before device")
    await sign_in(person, email)
    assert person.page.url.endswith(f"/device?user_code={started['user_code']}")
    assert (
        await person.page.get_by_label("Code shown on the device").input_value()
        == (started["user_code"])
    )
    await person.look("approve device")
    await person.submit("Approve")
    assert "Your device is signed in" in await person.text()
    await person.look("device signed in")

    tokens = await gateway.post(
        "/api/auth/device/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": started["device_code"],
        },
    )
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["user"]["email"] == email

    old_page = await gateway.get("/api/auth/device", params={"user_code": "BCDF-GHJK"})
    assert old_page.status_code == 303
    assert old_page.headers["location"].endswith("/device?user_code=BCDF-GHJK")


async def test_a_wrong_device_code_says_so_and_approves_nothing(visit: Any) -> None:
    person = await visit()
    await sign_up(person, new_email())
    await person.open("/device")
    await person.fill("Code shown on the device", "ZZZZ-ZZZZ")
    await person.submit("Approve")
    assert person.last is not None and person.last.status == 400
    assert "This code is unknown or has expired" in await person.text()
    await person.look("wrong device code")


async def test_pages_refuse_forged_forms_and_foreign_redirects_and_unknown_paths(
    visit: Any, gateway: httpx.AsyncClient
) -> None:
    person = await visit()
    email = new_email()
    await sign_up(person, email)
    await person.submit("Sign out")

    # next= pointing elsewhere is ignored: the person lands on our front page.
    for elsewhere in ("https://elsewhere.example", "//elsewhere.example", "/\\elsewhere.example"):
        await person.open(f"/sign-in?next={httpx.QueryParams({'n': elsewhere})['n']}")
        await sign_in(person, email)
        assert person.page.url == person.base_url + "/", elsewhere
        await person.submit("Sign out")

    # A form posted from another page without its token is refused, and nothing happens.
    await person.open("/sign-in")
    await person.page.evaluate("document.querySelector('input[name=csrf_token]').value = 'forged'")
    await sign_in(person, email)
    assert person.last is not None and person.last.status == 403
    assert "This form has expired" in await person.text()
    await person.look("forged form refused")
    bare = await gateway.post("/sign-in", data={"email": email, "password": PASSWORD})
    assert bare.status_code == 403

    await person.open("/no/such/page")
    assert person.last is not None and person.last.status == 404
    assert "Page not found" in await person.text()
    await person.look("not found")

    api_unknown = await gateway.get("/api/no-such-thing")
    assert api_unknown.status_code == 404
    assert api_unknown.headers["content-type"].startswith("application/problem+json")
