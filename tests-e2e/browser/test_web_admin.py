"""An administrator finds a customer, refunds part of their payment and sees revenue."""

from __future__ import annotations

from typing import Any

from test_web_accounts import new_email, sign_in, sign_up


async def test_an_admin_finds_a_customer_refunds_part_of_a_payment_and_sees_revenue(
    visit: Any, admin_credentials: tuple[str, str]
) -> None:
    customer = await visit(name="customer")
    email = new_email()
    await sign_up(customer, email)
    await customer.click_link("Billing")
    await customer.page.get_by_role("button", name="Upgrade to Pro").click()
    await customer.page.get_by_role("heading", name="Welcome to Pro").wait_for(timeout=20_000)

    admin = await visit(name="admin")
    await admin.open("/sign-in")
    await sign_in(admin, *admin_credentials)
    await admin.click_link("Admin")
    await admin.look("admin console")
    await admin.fill("Email or name", email)
    await admin.submit("Search")
    rows = admin.page.locator("#users tbody tr")
    assert await rows.count() == 1
    assert email in await rows.first.inner_text()
    await admin.look("customer found")

    await admin.click_link(f"Payments of {email}")
    assert "USD 20.00" in await admin.text()
    await admin.look("customer payments")
    await admin.fill("Amount to refund (USD)", "5.00")
    await admin.page.get_by_label("I confirm this refund").check()
    await admin.submit("Refund")
    assert "Refunded USD 5.00." in await admin.text()
    assert "refunded so far USD 5.00" in await admin.text()
    await admin.look("partly refunded")

    await admin.click_link("Back to the console")
    revenue = await admin.page.locator("#revenue").inner_text()
    assert "USD 5.00" in revenue
    assert admin.page.get_by_role("img", name="Net and refunded revenue per month")

    # A customer has no console: the address is simply not there for them.
    await customer.open("/admin")
    assert customer.last is not None and customer.last.status == 404
