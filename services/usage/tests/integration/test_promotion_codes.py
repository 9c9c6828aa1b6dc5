"""Promotion codes: created by admins, redeemed once per account, never past their total."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from test_pools import org_with_pool
from usage_harness import Usage, now

from tollgate.usage.models import Grant, LedgerEntry, PromotionCode


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin(usage: Usage) -> dict[str, str]:
    return bearer(usage.user_token(uuid.uuid4(), role="admin"))


async def create_code(usage: Usage, **body: Any) -> dict[str, Any]:
    body.setdefault("credits", 5_000)
    body.setdefault("max_redemptions", 10)
    body.setdefault("expires_at", (now() + timedelta(days=30)).isoformat())
    response = await usage.http.post("/api/admin/promotion-codes", json=body, headers=admin(usage))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def redeem(usage: Usage, token: str, code: str) -> httpx.Response:
    return await usage.http.post(
        "/api/promotions/redeem", json={"code": code}, headers=bearer(token)
    )


async def promotion_grants(usage: Usage, account_id: uuid.UUID) -> list[Grant]:
    result = await usage.db(
        lambda s: s.scalars(
            select(Grant).where(Grant.account_id == account_id, Grant.source == "promotion")
        )
    )
    return list(result)  # type: ignore[call-overload]


async def test_a_redeemed_code_adds_its_credits_to_the_balance_as_a_promotion_grant(
    usage: Usage,
) -> None:
    person = uuid.uuid4()
    token = usage.user_token(person)
    code = await create_code(usage, credits=7_500, grant_valid_days=30)
    before = (await usage.balance(token))["available"]

    response = await redeem(usage, token, code["code"])

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["credits"] == 7_500 and body["account_id"] == str(person)
    assert body["grant"]["source"] == "promotion"
    assert body["grant"]["expires_at"] is not None
    after = await usage.balance(token)
    assert after["available"] == before + 7_500
    assert any(g["source"] == "promotion" for g in after["grants"])


async def test_a_code_is_found_whatever_its_case_and_spacing(usage: Usage) -> None:
    code = await create_code(usage, code="Welcome-Back-2027")
    assert code["code"] == "WELCOME-BACK-2027"

    response = await redeem(usage, usage.user_token(uuid.uuid4()), " welcome-back-2027 ")

    assert response.status_code == 201, response.text


async def test_100_concurrent_redemptions_of_a_code_limited_to_10_make_exactly_10_grants(
    usage: Usage,
) -> None:
    code = await create_code(usage, credits=1_000, max_redemptions=10)
    people = [uuid.uuid4() for _ in range(100)]

    responses = await asyncio.gather(
        *(redeem(usage, usage.user_token(p), code["code"]) for p in people)
    )

    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 10, statuses
    assert statuses.count(409) == 90, statuses
    assert {r.json()["type"].rsplit("/", 1)[-1] for r in responses if r.status_code == 409} == {
        "promotion-code-exhausted"
    }
    winners = {uuid.UUID(r.json()["account_id"]) for r in responses if r.status_code == 201}
    credited = await usage.db(
        lambda s: s.scalar(
            select(func.sum(LedgerEntry.amount)).where(
                LedgerEntry.account_id.in_(people),
                LedgerEntry.grant_id.in_(select(Grant.id).where(Grant.source == "promotion")),
            )
        )
    )
    assert credited == 10 * 1_000
    for person in people:
        assert len(await promotion_grants(usage, person)) == (1 if person in winners else 0)
    stored = await usage.db(lambda s: s.get(PromotionCode, uuid.UUID(code["id"])))
    assert stored is not None and stored.redemptions == 10


async def test_an_account_redeems_a_code_once_and_a_second_try_leaves_the_balance_alone(
    usage: Usage,
) -> None:
    person = uuid.uuid4()
    token = usage.user_token(person)
    code = await create_code(usage, credits=2_000)
    assert (await redeem(usage, token, code["code"])).status_code == 201
    balance = (await usage.balance(token))["available"]

    again = await redeem(usage, token, code["code"])

    assert again.status_code == 409
    assert again.json()["type"].endswith("/promotion-code-already-redeemed")
    assert (await usage.balance(token))["available"] == balance
    assert len(await promotion_grants(usage, person)) == 1


async def test_an_expired_code_is_gone_and_grants_nothing(usage: Usage) -> None:
    code = await create_code(usage)
    await usage.db(lambda s: _expire(s, uuid.UUID(code["id"])))
    person = uuid.uuid4()

    response = await redeem(usage, usage.user_token(person), code["code"])

    assert response.status_code == 410
    assert response.json()["type"].endswith("/promotion-code-expired")
    assert await promotion_grants(usage, person) == []


async def _expire(session: Any, code_id: uuid.UUID) -> None:
    code = await session.get(PromotionCode, code_id)
    code.expires_at = now() - timedelta(seconds=1)


async def test_a_withdrawn_code_cannot_be_redeemed_and_the_list_shows_its_redemptions(
    usage: Usage,
) -> None:
    code = await create_code(usage, max_redemptions=3)
    assert (await redeem(usage, usage.user_token(uuid.uuid4()), code["code"])).status_code == 201

    withdrawn = await usage.http.post(
        f"/api/admin/promotion-codes/{code['id']}/deactivate", headers=admin(usage)
    )
    late = await redeem(usage, usage.user_token(uuid.uuid4()), code["code"])

    assert withdrawn.status_code == 200 and withdrawn.json()["active"] is False
    assert late.status_code == 410
    assert late.json()["type"].endswith("/promotion-code-inactive")
    listed = await usage.http.get("/api/admin/promotion-codes", headers=admin(usage))
    mine = next(c for c in listed.json()["items"] if c["id"] == code["id"])
    assert mine["redemptions"] == 1 and mine["active"] is False and mine["once_per_account"]


async def test_an_unknown_code_is_404_and_a_sub_user_is_sent_to_its_parent(usage: Usage) -> None:
    unknown = await redeem(usage, usage.user_token(uuid.uuid4()), "NO-SUCH-CODE")
    code = await create_code(usage)
    parent, child = uuid.uuid4(), uuid.uuid4()

    sub_user = await redeem(usage, usage.user_token(child, parent=parent), code["code"])

    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("/promotion-code-not-found")
    assert sub_user.status_code == 403
    assert sub_user.json()["type"].endswith("/sub-user-cannot-redeem")
    assert await promotion_grants(usage, parent) == []


async def test_an_organization_member_credits_the_pool_once_for_the_whole_organization(
    usage: Usage,
) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    org = await org_with_pool(usage, 3_000, alice, bob)
    code = await create_code(usage, credits=4_000)

    first = await redeem(usage, usage.user_token(alice, org=org), code["code"])
    second = await redeem(usage, usage.user_token(bob, org=org), code["code"])

    assert first.status_code == 201 and first.json()["account_id"] == str(org)
    assert second.status_code == 409
    assert len(await promotion_grants(usage, org)) == 1


async def test_codes_with_amounts_no_promotion_can_mean_are_refused(usage: Usage) -> None:
    expires = (now() + timedelta(days=1)).isoformat()
    bad_bodies: list[dict[str, Any]] = [
        {"credits": -5, "max_redemptions": 1, "expires_at": expires},
        {"credits": 0, "max_redemptions": 1, "expires_at": expires},
        {"credits": 2.5, "max_redemptions": 1, "expires_at": expires},
        {"credits": "100", "max_redemptions": 1, "expires_at": expires},
        {"credits": 10**15, "max_redemptions": 1, "expires_at": expires},
        {"credits": 100, "max_redemptions": 0, "expires_at": expires},
        {
            "credits": 100,
            "max_redemptions": 1,
            "expires_at": (now() - timedelta(days=1)).isoformat(),
        },
        {"credits": 100, "max_redemptions": 1, "expires_at": expires, "code": "no spaces!"},
        {"credits": 100, "max_redemptions": 1, "expires_at": expires, "grant_valid_days": 0},
    ]
    before = await usage.db(lambda s: s.scalar(select(func.count()).select_from(PromotionCode)))

    answers = [
        await usage.http.post("/api/admin/promotion-codes", json=b, headers=admin(usage))
        for b in bad_bodies
    ]

    assert [a.status_code for a in answers] == [422] * len(bad_bodies), [a.text for a in answers]
    after = await usage.db(lambda s: s.scalar(select(func.count()).select_from(PromotionCode)))
    assert after == before


async def test_a_code_text_is_taken_once_and_only_admins_create_codes(usage: Usage) -> None:
    taken = await create_code_raw(usage, admin(usage), code="ONLY-ONCE-AGAIN")
    duplicate = await create_code_raw(usage, admin(usage), code="ONLY-ONCE-AGAIN")
    person = await create_code_raw(usage, bearer(usage.user_token(uuid.uuid4())))

    assert taken.status_code == 201
    assert duplicate.status_code == 409
    assert duplicate.json()["type"].endswith("/promotion-code-taken")
    assert person.status_code == 403


async def create_code_raw(usage: Usage, headers: dict[str, str], **body: Any) -> httpx.Response:
    body |= {"credits": 100, "max_redemptions": 1}
    body["expires_at"] = (now() + timedelta(days=1)).isoformat()
    return await usage.http.post("/api/admin/promotion-codes", json=body, headers=headers)
