"""Journeys of money in a real browser: an upgrade through Stripe Checkout (the stand-in),
the pages Stripe sends people back to, the invoice it leaves, and cancel and resume."""

from __future__ import annotations

from typing import Any

from test_web_accounts import new_email, sign_up


async def test_an_upgrade_through_checkout_lands_on_success_and_shows_the_plan_and_invoice(
    visit: Any,
) -> None:
    person = await visit()
    await sign_up(person, new_email())
    await person.click_link("Billing")
    assert "Your plan: Free" in await person.text()
    await person.look("billing free")

    # Checkout (the stand-in pays on opening) sends the person back to the success page,
    # which says "processing" until Stripe's webhook has landed, then shows the plan.
    await person.page.get_by_role("button", name="Upgrade to Pro").click()
    await person.page.wait_for_url("**/billing/success")
    await person.page.get_by_role("heading", name="Welcome to Pro").wait_for(timeout=20_000)
    person.last = await person.page.reload()
    await person.look("upgrade succeeded")

    await person.click_link("See plan and invoices")
    assert "Your plan: Pro" in await person.text()
    invoices = person.page.locator(
        "section", has=person.page.get_by_role("heading", name="Invoices")
    )
    assert "USD 20.00" in await invoices.inner_text()
    await person.look("billing pro with invoice")

    await person.submit("Cancel plan")
    assert "Your plan is cancelled" in await person.text()
    assert "Cancelled:" in await person.text()
    await person.look("plan cancelled")
    await person.submit("Keep my plan")
    assert "Your plan continues" in await person.text()
    assert "Cancelled:" not in await person.text()


async def test_turning_back_from_checkout_charges_nothing(visit: Any) -> None:
    person = await visit(phone=True)
    await sign_up(person, new_email())
    await person.open("/billing/cancel")
    assert "No payment was made" in await person.text()
    await person.look("checkout cancelled")
    await person.click_link("Back to plans")
    assert "Your plan: Free" in await person.text()
    await person.look("billing")


async def test_a_trial_starts_from_the_plan_card_without_a_card_and_says_when_it_ends(
    visit: Any,
) -> None:
    person = await visit()
    await sign_up(person, new_email())
    await person.click_link("Billing")
    assert "or USD 200.00 a year" in await person.text()

    await person.page.get_by_role("button", name="Try Pro free for 14 days").click()
    await person.page.wait_for_url("**/billing/success")
    await person.page.get_by_role("heading", name="Welcome to Pro").wait_for(timeout=20_000)
    await person.open("/billing")

    text = await person.text()
    assert "Your plan: Pro" in text
    assert "Free trial until" in text
    assert "Try Pro free" not in text  # one trial per account
    await person.look("billing trialing")
