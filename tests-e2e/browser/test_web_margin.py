"""An administrator reads the margin of each plan and model for a date range."""

from __future__ import annotations

from typing import Any

from test_web_accounts import new_email, sign_in, sign_up


async def test_an_admin_reads_the_margin_per_plan_and_model_and_a_customer_cannot(
    visit: Any, admin_credentials: tuple[str, str]
) -> None:
    customer = await visit(name="customer")
    await sign_up(customer, new_email())

    admin = await visit(name="admin")
    await admin.open("/sign-in")
    await sign_in(admin, *admin_credentials)
    await admin.click_link("Admin")
    await admin.click_link("Margin per plan and model")
    assert "All plans" in await admin.text()
    assert "Provider cost" in await admin.text()
    await admin.look("margin report")

    await admin.open("/admin/margin?start=2026-05-02&end=2026-05-01")
    assert admin.last is not None and admin.last.status == 400
    assert "start is after end" in await admin.text()
    await admin.look("reversed range")

    await customer.open("/admin/margin")
    assert customer.last is not None and customer.last.status == 404
