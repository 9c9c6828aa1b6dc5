"""An administrator edits a plan of the catalog and reads usage across accounts; at a
phone's width the console's tables scroll inside their box, never the whole page."""

from __future__ import annotations

from typing import Any

from test_web_accounts import new_email, sign_in, sign_up

NARROWEST_PHONE = {"width": 375, "height": 812}


async def page_fits_the_screen(visitor: Any) -> bool:
    width: bool = await visitor.page.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth"
    )
    return width


async def save_enterprise(admin: Any, **fields: str) -> None:
    await admin.open("/admin/plans/enterprise")
    for label, value in fields.items():
        await admin.fill(label, value)
    await admin.submit("Save plan")


async def test_an_admin_edits_a_plan_and_people_see_it_on_the_plan_cards(
    visit: Any, admin_credentials: tuple[str, str]
) -> None:
    admin = await visit(name="admin")
    await admin.open("/sign-in")
    await sign_in(admin, *admin_credentials)
    await admin.click_link("Admin")
    await admin.click_link("Plans")
    await admin.look("plans")
    before = {
        "Name shown": "",
        "Monthly allocation": "",
        "Allowed models": "",
    }
    await admin.page.get_by_role("link", name="Edit the Enterprise plan").click()
    await admin.page.wait_for_url("**/admin/plans/enterprise")
    for label in before:
        before[label] = await admin.page.get_by_label(label, exact=True).input_value()
    admin.last = await admin.page.reload()
    await admin.look("enterprise plan form")

    try:
        await save_enterprise(
            admin,
            **{"Price shown (USD a month)": "lots", "Monthly allocation": "60000000"},
        )
        assert admin.last is not None and admin.last.status == 400
        assert "The price must be an amount such as 20.00" in await admin.text()
        await admin.look("a price that is no amount")

        await save_enterprise(
            admin,
            **{
                "Name shown": "Enterprise Plus",
                "Monthly allocation": "60,000,000",
                "Allowed models": "gpt-4o-mini, gpt-4o",
            },
        )
        assert "The Enterprise Plus plan is saved" in await admin.text()
        row = admin.page.locator("#plans tr", has_text="Enterprise Plus")
        assert "60,000,000" in await row.inner_text()
        assert "gpt-4o-mini, gpt-4o" in await row.inner_text()
        await admin.look("plan saved")

        customer = await visit(name="customer")
        await sign_up(customer, new_email())
        await customer.click_link("Billing")
        # The page first, then the check: a failure keeps what the customer saw.
        await customer.look("plan cards with the edited plan")
        card = customer.page.locator("li.plan", has_text="Enterprise Plus")
        assert "60,000,000 tokens a month" in await card.inner_text(timeout=5000)
        await customer.open("/admin/plans/enterprise")
        assert customer.last is not None and customer.last.status == 404
    finally:
        await save_enterprise(admin, **before)
    assert "The Enterprise plan is saved" in await admin.text()


async def test_usage_across_accounts_and_the_plans_fit_a_phone_without_sideways_scrolling(
    visit: Any, admin_credentials: tuple[str, str]
) -> None:
    admin = await visit(name="admin-phone", phone=True)
    await admin.page.set_viewport_size(NARROWEST_PHONE)
    await admin.open("/sign-in")
    await sign_in(admin, *admin_credentials)
    for path, heading in (
        ("/admin/usage", "Usage across accounts"),
        ("/admin/plans", "Plans"),
        ("/admin", "Admin console"),
        ("/admin/margin", "Margin"),
        ("/admin/promotion-codes", "Promotion codes"),
        ("/billing/credits", "Credits"),
        ("/promotions", "Redeem a code"),
        ("/usage", "Usage"),
    ):
        await admin.open(path)
        assert admin.last is not None and admin.last.status == 200
        assert await admin.page.locator("h1").inner_text() == heading
        assert await page_fits_the_screen(admin), f"{path} scrolls sideways at 375 px"
        await admin.look(path.strip("/").replace("/", " ") or "home")
    stats = admin.page.locator("#usage-by-model")
    assert await stats.count() == 0  # the last page was the person's own dashboard
