"""Buying credits in a real browser: the credits page, a pack paid for on Stripe Checkout
(the stand-in), the purchase and the balance it leaves, and auto top-up switched on."""

from __future__ import annotations

import asyncio
from typing import Any

from test_web_accounts import new_email, sign_up


async def test_a_pack_bought_through_checkout_shows_as_paid_and_adds_to_the_balance(
    visit: Any,
) -> None:
    person = await visit()
    await sign_up(person, new_email())
    await person.click_link("Billing")
    await person.click_link("Buy credits, or top up automatically")
    assert "No purchases yet" in await person.text()
    await person.look("credits before buying")
    before = await person.page.locator("main strong").first.inner_text()

    # The stand-in's Checkout page pays on opening and sends the person back here.
    await person.page.get_by_role("button", name="Buy 1 million credits").click()
    await person.page.wait_for_url("**/billing/credits?checkout=paid")
    assert "Thank you" in await person.text()

    purchases = person.page.locator(
        "section", has=person.page.get_by_role("heading", name="Your purchases")
    )
    # Until Stripe's webhook has landed at billing (the purchase is paid) and the credits
    # have travelled on to usage (the balance): two events, which land a moment apart.
    balance = person.page.locator("main strong").first
    for _ in range(100):
        paid = "paid" in await purchases.inner_text()
        if paid and _credits(await balance.inner_text()) != _credits(before):
            break
        await asyncio.sleep(0.2)
        person.last = await person.page.reload()
    assert "paid" in await purchases.inner_text()
    assert _credits(await balance.inner_text()) == _credits(before) + 1_000_000
    await person.look("pack bought")

    await person.page.get_by_label("Top up automatically").check()
    await person.fill("When fewer credits than this are left", "50000")
    await person.submit("Save auto top-up")
    assert "Auto top-up is on." in await person.text()
    assert await person.page.get_by_label("Top up automatically").is_checked()
    await person.look("auto top-up on")


async def test_auto_top_up_without_a_saved_card_says_to_buy_a_pack_first(visit: Any) -> None:
    person = await visit(phone=True)
    await sign_up(person, new_email())
    await person.open("/billing/credits")
    await person.page.get_by_label("Top up automatically").check()
    await person.submit("Save auto top-up")
    assert "buy one pack first" in await person.text()
    await person.look("auto top-up refused")


def _credits(text: str) -> int:
    return int(text.split()[0].replace(",", ""))
