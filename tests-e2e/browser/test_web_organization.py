"""An owner invites a member by mail; the member joins through the mailed link (making
an account on the way) and the owner sees them and caps their spending."""

from __future__ import annotations

from typing import Any

from conftest import eventually
from test_web_accounts import new_email, sign_up


async def test_an_invited_person_joins_by_the_mailed_link_and_the_owner_caps_them(
    visit: Any, outside: Any
) -> None:
    owner = await visit(name="owner")
    await sign_up(owner, new_email())
    await owner.click_link("Organization")
    await owner.look("no organization")
    await owner.fill("Organization name", "Acme")
    await owner.submit("Create organization")
    assert "Acme is created" in await owner.text()

    member_email = new_email()
    await owner.fill("Email", member_email)
    await owner.submit("Send invitation")
    assert f"An invitation is on its way to {member_email}" in await owner.text()
    assert member_email in await owner.page.locator("ul.plain").inner_text()
    await owner.look("invitation sent")

    token = await eventually(
        lambda: outside.mail.token_sent_to(member_email, "/invitations/accept")
    )
    member = await visit(name="member", phone=True)
    await member.open(f"/invitations/accept?token={token}")
    assert "/sign-in?next=" in member.page.url
    await member.click_link("Create an account")
    await member.fill("Email", member_email)
    await member.fill("Password", "a long enough passphrase 1")
    await member.submit("Create account")
    assert member.page.url.endswith(f"/invitations/accept?token={token}")
    await member.look("join organization")
    await member.submit("Join the organization")
    assert "You joined Acme." in await member.text()
    await member.look("member of acme")

    await owner.click_link("Organization")
    members = owner.page.locator("#members")
    assert member_email in await members.inner_text()
    await owner.page.get_by_label(f"Cap for {member_email}").fill("300")
    await owner.submit("Set cap")
    assert "The member may now spend 300 tokens a period." in await owner.text()
    await owner.look("member capped")

    # The link worked once.
    again = await visit(name="again")
    await sign_up(again, new_email())
    await again.open(f"/invitations/accept?token={token}")
    await again.submit("Join the organization")
    assert "This link no longer works" in await again.text()
