"""A parent adds a sub-user with a monthly cap; the sub-user signs in on their own."""

from __future__ import annotations

from typing import Any

from test_web_accounts import new_email, sign_in, sign_up


async def test_a_parent_adds_a_capped_sub_user_who_signs_in_and_can_be_disabled(
    visit: Any,
) -> None:
    parent = await visit(name="parent")
    await sign_up(parent, new_email())
    await parent.click_link("Sub-users")
    await parent.look("no sub-users")
    child_email = new_email()
    await parent.fill("Name", "Junior")
    await parent.fill("Email", child_email)
    await parent.fill("Their password", "a long enough passphrase 9")
    await parent.fill("Monthly cap in tokens", "5000")
    await parent.submit("Add sub-user")
    assert f"{child_email} can now sign in" in await parent.text()
    cap = parent.page.get_by_label(f"Monthly cap of {child_email}")
    assert await cap.input_value() == "5000"
    await parent.look("sub-user added")

    await cap.fill("2,500")
    await parent.submit(f"Save the cap of {child_email}")
    assert await parent.page.get_by_label(f"Monthly cap of {child_email}").input_value() == "2500"
    await parent.page.get_by_label(f"Monthly cap of {child_email}").fill("lots")
    await parent.submit(f"Save the cap of {child_email}")
    assert parent.last is not None and parent.last.status == 400
    assert "whole number of tokens" in await parent.text()

    child = await visit(name="child", phone=True)
    await child.open("/sign-in")
    await sign_in(child, child_email, "a long enough passphrase 9")
    assert "Tokens this period" in await child.text()
    assert await child.page.get_by_role("link", name="Sub-users").count() == 0
    await child.look("sub-user overview")

    await parent.submit(f"Disable {child_email}")
    assert await parent.page.get_by_role("button", name=f"Enable {child_email}").count() == 1
    await parent.look("sub-user disabled")
