"""A person sees where their account is signed in and signs one device out."""

from __future__ import annotations

from typing import Any

from test_web_accounts import new_email, sign_in, sign_up


async def test_a_device_revoked_from_the_account_page_is_signed_out_and_the_others_stay(
    visit: Any,
) -> None:
    email = new_email()
    laptop = await visit(name="laptop")
    await sign_up(laptop, email)
    phone = await visit(name="phone", phone=True)
    await phone.open("/sign-in")
    await sign_in(phone, email)
    await phone.open("/usage")
    assert phone.last is not None and phone.last.status == 200

    await laptop.click_link("Account")
    rows = laptop.page.locator("#sign-ins tbody tr")
    assert await rows.count() == 2
    assert await rows.filter(has_text="this browser").count() == 1
    await laptop.look("two devices")
    other = rows.filter(has_not_text="this browser")
    async with laptop.page.expect_navigation() as navigation:
        await other.get_by_role("button", name="Revoke").click()
    laptop.last = await navigation.value
    assert "That device is signed out" in await laptop.text()
    assert await laptop.page.locator("#sign-ins tbody tr").count() == 1
    await laptop.look("one device left")

    # The phone's tokens stop working: its next page asks it to sign in again.
    await phone.open("/usage")
    assert "/sign-in" in phone.page.url
    await phone.look("signed out")
    await laptop.open("/usage")
    assert laptop.last is not None and laptop.last.status == 200
    assert "/sign-in" not in laptop.page.url
