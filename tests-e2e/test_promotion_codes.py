"""Promotion codes through the gateway: an admin makes a code, people redeem it.

100 people redeeming a code for 10 at once get exactly 10 grants, and their balances
go up by exactly that; an expired, exhausted or already used code leaves the ledger
as it was.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from journeys import Person, balance, eventually, funded, register


async def new_code(
    gateway: httpx.AsyncClient, admin: dict[str, str], **body: Any
) -> dict[str, Any]:
    body.setdefault("credits", 2_500)
    body.setdefault("max_redemptions", 10)
    body.setdefault("expires_at", (datetime.now(UTC) + timedelta(days=7)).isoformat())
    made = await gateway.post("/api/admin/promotion-codes", json=body, headers=admin)
    assert made.status_code == 201, made.text
    code: dict[str, Any] = made.json()
    return code


async def redeem(gateway: httpx.AsyncClient, person: Person, code: str) -> httpx.Response:
    return await gateway.post("/api/promotions/redeem", json={"code": code}, headers=person.headers)


def slug(response: httpx.Response) -> str:
    return str(response.json()["type"]).rsplit("/", 1)[-1]


def promotion_grants(balance_body: dict[str, Any]) -> list[dict[str, Any]]:
    return [g for g in balance_body["grants"] if g["source"] == "promotion"]


async def test_100_people_redeeming_a_code_for_10_at_once_get_exactly_10_grants(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    code = await new_code(gateway, admin, credits=2_500, max_redemptions=10)
    people = [await register(gateway, f"Rush{i}") for i in range(100)]
    before = await asyncio.gather(*(funded(gateway, p) for p in people))

    answers = await asyncio.gather(*(redeem(gateway, p, code["code"]) for p in people))

    statuses = [a.status_code for a in answers]
    assert statuses.count(201) == 10, statuses
    assert {slug(a) for a in answers if a.status_code != 201} == {"promotion-code-exhausted"}
    after = await asyncio.gather(*(balance(gateway, p) for p in people))
    for answer, was, now in zip(answers, before, after, strict=True):
        gained = 2_500 if answer.status_code == 201 else 0
        assert now["available"] == was["available"] + gained
        assert len(promotion_grants(now)) == (1 if gained else 0)
    listed = await gateway.get("/api/admin/promotion-codes", headers=admin)
    assert next(c for c in listed.json()["items"] if c["id"] == code["id"])["redemptions"] == 10


async def test_expired_exhausted_and_already_used_codes_are_refused_and_change_nothing(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    first, second = await register(gateway, "Early"), await register(gateway, "Late")
    await funded(gateway, first)
    await funded(gateway, second)
    single = await new_code(gateway, admin, credits=1_000, max_redemptions=1)
    soon_over = await new_code(
        gateway, admin, expires_at=(datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    )
    assert (await redeem(gateway, first, single["code"])).status_code == 201
    first_before, second_before = await balance(gateway, first), await balance(gateway, second)
    await asyncio.sleep(2.5)

    again = await redeem(gateway, first, single["code"])
    exhausted = await redeem(gateway, second, single["code"])
    expired = await redeem(gateway, second, soon_over["code"])

    assert (again.status_code, slug(again)) == (409, "promotion-code-already-redeemed")
    assert (exhausted.status_code, slug(exhausted)) == (409, "promotion-code-exhausted")
    assert (expired.status_code, slug(expired)) == (410, "promotion-code-expired")
    assert await balance(gateway, first) == first_before
    assert await balance(gateway, second) == second_before


async def test_a_withdrawn_code_stops_working_and_bad_amounts_never_make_a_code(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    person = await register(gateway, "Patient")
    code = await new_code(gateway, admin)
    withdrawn = await gateway.post(
        f"/api/admin/promotion-codes/{code['id']}/deactivate", headers=admin
    )
    assert withdrawn.status_code == 200, withdrawn.text

    late = await redeem(gateway, person, code["code"])
    assert (late.status_code, slug(late)) == (410, "promotion-code-inactive")
    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    for credits in (-1, 0, 0.5, 10**12):
        refused = await gateway.post(
            "/api/admin/promotion-codes",
            json={"credits": credits, "max_redemptions": 1, "expires_at": expires},
            headers=admin,
        )
        assert refused.status_code == 422, (credits, refused.text)
    assert (
        promotion_grants(
            await eventually(lambda: balance(gateway, person), lambda b: "grants" in b)
        )
        == []
    )
