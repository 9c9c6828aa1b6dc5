"""Journeys of a person's keys and spending: a key made in the browser works with the
official openai SDK, and the dashboard shows the call with the tokens the ledger charged."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from conftest import PHONE
from openai import AsyncOpenAI
from test_web_accounts import new_email, sign_up


async def create_key(person: Any, name: str) -> str:
    await person.click_link("API keys")
    await person.look("api keys")
    await person.fill("Name", name)
    await person.submit("Create key")
    secret = await person.page.get_by_label("Secret key").input_value()
    assert secret.startswith("tg_")
    return secret


async def test_a_key_made_in_the_browser_calls_the_api_and_the_dashboard_shows_the_charge(
    visit: Any, stack: Any
) -> None:
    person = await visit()
    await sign_up(person, new_email())
    secret = await create_key(person, "laptop")
    assert "it is shown only once" in await person.text()
    await person.look("key created")

    client = AsyncOpenAI(base_url=stack.url("gateway") + "/v1", api_key=secret)
    answer = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}]
    )
    assert answer.usage is not None
    spent = answer.usage.total_tokens

    async def dashboard_shows_the_call() -> str:
        await person.open("/usage")
        rows = await person.page.locator("#recent-calls tbody tr").all_inner_texts()
        assert rows and "gpt-4o-mini" in rows[0], rows
        return rows[0]

    row = None
    for _ in range(50):
        try:
            row = await dashboard_shows_the_call()
            break
        except AssertionError:
            await person.page.wait_for_timeout(200)
    assert row is not None, "the call never reached the dashboard"
    await person.look("dashboard with the call")
    cells = row.split("\t")
    assert int(cells[6].replace(",", "")) == spent  # total tokens, as the SDK was told

    # The figures are the API's own: the ledger's charge and the balance agree on the page.
    charged = int(cells[7].replace(",", ""))
    used = (
        await person.page.locator(".stat", has_text="Used this period").locator("dd").inner_text()
    )
    assert int(used.replace(",", "")) == charged
    by_model = person.page.locator(
        "section", has=person.page.get_by_role("heading", name="By model")
    )
    model_row = await by_model.locator("tbody tr", has_text="gpt-4o-mini").inner_text()
    assert f"{spent:,}" in model_row
    assert await person.page.get_by_role("img", name="Stacked bars of tokens per day").is_visible()

    # The key's last use is shown, and the CSV of the range carries the same tokens.
    await person.click_link("API keys")
    assert "never" not in await person.page.locator("table").inner_text()
    await person.look("key used")
    await person.click_link("Usage")
    async with person.page.expect_download() as download_info:
        await person.page.get_by_role("link", name="Download CSV").click()
    download = await download_info.value
    text = (await download.path()).read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["model"] for r in rows] == ["gpt-4o-mini"]
    assert int(rows[0]["total_tokens"]) == spent

    # The same dashboard on a phone.
    await person.page.set_viewport_size(PHONE)
    person.phone = True
    await person.open("/usage")
    await person.look("dashboard")


async def test_a_revoked_key_stops_working_and_nobody_can_revoke_anothers_key(
    visit: Any, stack: Any, gateway: httpx.AsyncClient
) -> None:
    owner = await visit(name="owner")
    await sign_up(owner, new_email())
    secret = await create_key(owner, "ci")
    key_id = await owner.page.locator("form[action$='/revoke']").first.get_attribute("action")
    assert key_id is not None

    stranger = await visit(name="stranger")
    await sign_up(stranger, new_email())
    await create_key(stranger, "own key")
    # The stranger points their own revoke form at the owner's key: nothing of the owner's.
    await stranger.page.evaluate(
        "action => document.querySelector(\"form[action$='/revoke']\").action = action", key_id
    )
    await stranger.submit("Revoke own key")
    assert stranger.last is not None and stranger.last.status == 404
    assert "Page not found" in await stranger.text()
    await stranger.look("another persons key")
    still = await gateway.get("/v1/models", headers={"Authorization": f"Bearer {secret}"})
    assert still.status_code == 200

    await owner.page.get_by_role("button", name="Revoke ci").click()
    await owner.page.wait_for_url("**/api-keys")
    assert "The key is revoked" in await owner.text()
    await owner.look("key revoked")

    async def refused() -> None:
        answer = await gateway.get("/v1/models", headers={"Authorization": f"Bearer {secret}"})
        assert answer.status_code == 401

    for _ in range(50):
        try:
            await refused()
            break
        except AssertionError:
            await owner.page.wait_for_timeout(200)
    await refused()
