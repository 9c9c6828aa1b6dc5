"""An admin makes a promotion code; a person redeems it from the billing page, once."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from test_web_accounts import new_email, sign_in, sign_up


async def test_an_admin_makes_a_code_and_a_person_redeems_it_once_from_the_billing_page(
    visit: Any, admin_credentials: tuple[str, str]
) -> None:
    code = f"SPRING-{secrets.token_hex(3).upper()}"
    person = await visit(name="person", phone=True)
    await sign_up(person, new_email())
    admin = await visit(name="admin")
    await admin.open("/sign-in")
    await sign_in(admin, *admin_credentials)
    await admin.click_link("Admin")
    await admin.click_link("Promotion codes")
    await admin.look("promotion codes")
    await admin.fill("Code", code)
    await admin.fill("Credits", "2,500")
    await admin.fill("Redemptions in total", "5")
    last_day = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    await admin.fill("Last day it works (UTC)", last_day)
    await admin.submit("Create code")
    assert f"Code {code} is ready." in await admin.text()
    row = admin.page.locator("#promotion-codes tbody tr", has_text=code)
    assert "0 of 5" in await row.inner_text()
    await admin.look("code created")

    await person.click_link("Billing")
    await person.click_link("Have a promotion code? Redeem it")
    await person.look("redeem a code")
    await person.fill("Promotion code", "NOT-A-REAL-CODE")
    await person.submit("Redeem")
    assert person.last is not None and person.last.status == 404
    assert "No such promotion code" in await person.text()
    await person.look("unknown code")

    await person.fill("Promotion code", code.lower())
    await person.submit("Redeem")
    assert "2,500 credits were added to your balance." in await person.text()
    await person.look("code redeemed")

    await person.open("/promotions")
    await person.fill("Promotion code", code)
    await person.submit("Redeem")
    assert person.last is not None and person.last.status == 409
    assert "already redeemed" in await person.text()

    await admin.open("/admin/promotion-codes")
    row = admin.page.locator("#promotion-codes tbody tr", has_text=code)
    assert "1 of 5" in await row.inner_text()
    await admin.submit(f"Withdraw {code}")
    assert "The code was withdrawn" in await admin.text()
    row = admin.page.locator("#promotion-codes tbody tr", has_text=code)
    assert "Withdrawn" in await row.inner_text()
    await admin.look("code withdrawn")

    # A person has no such page: the address is simply not there for them.
    await person.open("/admin/promotion-codes")
    assert person.last is not None and person.last.status == 404
