"""Reservations: holds never exceed the balance, settle once, and expire."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select
from usage_harness import Usage, eventually, give_plan

from tollgate.usage.models import Hold


async def test_200_concurrent_reservations_against_a_balance_for_50_let_exactly_50_through(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 50 * 150)
    token = usage.user_token(user)

    responses = await asyncio.gather(
        *(usage.reserve(token, prompt_tokens=100, max_completion_tokens=50) for _ in range(200))
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 50
    assert statuses.count(402) == 150
    refused = next(r for r in responses if r.status_code == 402)
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("insufficient-quota")
    assert refused.json()["available"] == 0
    balance = await usage.balance(token)
    assert balance["available"] == 0
    assert balance["reserved"] == 50 * 150


async def test_a_reservation_holds_the_prompt_and_the_completion_cap(usage: Usage) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 10_000)
    token = usage.user_token(user)

    response = await usage.reserve(token, prompt_tokens=1_000, max_completion_tokens=500)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["held_tokens"] == 1_500
    assert body["max_completion_tokens"] == 500
    assert body["available"] == 8_500
    assert body["account_id"] == str(user)


async def test_without_a_completion_cap_the_hold_is_what_fits_up_to_the_default(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 3_000)
    token = usage.user_token(user)

    body = (await usage.reserve(token, prompt_tokens=1_000, max_completion_tokens=None)).json()
    assert body["held_tokens"] == 3_000
    assert body["max_completion_tokens"] == 2_000

    refused = await usage.reserve(token, prompt_tokens=10, max_completion_tokens=None)
    assert refused.status_code == 402


async def test_a_retried_request_id_gets_the_same_reservation_not_a_second_hold(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 10_000)
    token = usage.user_token(user)

    first = await usage.reserve(token, request_id="req-same", prompt_tokens=100)
    again = await usage.reserve(token, request_id="req-same", prompt_tokens=100)

    assert first.status_code == again.status_code == 201
    assert first.json()["reservation_id"] == again.json()["reservation_id"]
    assert (await usage.balance(token))["reserved"] == first.json()["held_tokens"]


async def test_a_released_hold_returns_its_tokens_and_releasing_twice_is_harmless(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 10_000)
    token = usage.user_token(user)
    hold = (await usage.reserve(token, prompt_tokens=1_000, max_completion_tokens=1_000)).json()

    url = f"/internal/reservations/{hold['reservation_id']}/release"
    first = await usage.http.post(url, headers=usage.service_headers(token))
    second = await usage.http.post(url, headers=usage.service_headers(token))

    assert first.status_code == second.status_code == 200
    assert first.json()["available"] == 10_000
    assert (await usage.balance(token))["available"] == 10_000


async def test_an_expired_hold_returns_its_tokens_and_cannot_be_released(usage: Usage) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 10_000)
    token = usage.user_token(user)
    hold = (
        await usage.reserve(token, prompt_tokens=4_000, max_completion_tokens=0, ttl_seconds=1)
    ).json()
    assert (await usage.balance(token))["available"] == 6_000

    async def swept() -> bool:
        found = await usage.db(lambda s: s.get(Hold, uuid.UUID(hold["reservation_id"])))
        return found is not None and found.status == "expired"

    await eventually(swept, timeout=5)
    assert (await usage.balance(token))["available"] == 10_000
    late = await usage.http.post(
        f"/internal/reservations/{hold['reservation_id']}/release",
        headers=usage.service_headers(token),
    )
    assert late.status_code == 409
    assert late.json()["status"] == "expired"


async def test_reservations_need_a_known_service_and_the_users_token(usage: Usage) -> None:
    user = uuid.uuid4()
    token = usage.user_token(user)
    body = {"request_id": "r1", "model": "gpt-4o-mini", "prompt_tokens": 1}

    no_user = await usage.http.post(
        "/internal/reservations",
        json=body,
        headers={"Authorization": usage.service_headers(token)["Authorization"]},
    )
    as_user = await usage.http.post(
        "/internal/reservations", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    other_service = await usage.http.post(
        "/internal/reservations", json=body, headers=usage.service_headers(token, "billing")
    )

    assert no_user.status_code == 401
    assert as_user.status_code == 403
    assert other_service.status_code == 403


async def test_bad_reservation_input_is_refused_and_holds_nothing(usage: Usage) -> None:
    user = uuid.uuid4()
    token = usage.user_token(user)

    negative = await usage.reserve(token, prompt_tokens=-5)
    absurd = await usage.reserve(token, prompt_tokens=10**12)
    nothing = await usage.reserve(token, prompt_tokens=0, max_completion_tokens=0)
    unknown = await usage.http.post(
        f"/internal/reservations/{uuid.uuid4()}/release", headers=usage.service_headers(token)
    )

    assert negative.status_code == absurd.status_code == 422
    assert negative.headers["content-type"].startswith("application/problem+json")
    assert nothing.status_code == 422
    assert unknown.status_code == 404
    holds = await usage.db(
        lambda s: s.scalars(select(Hold).where(Hold.user_id == user))  # type: ignore[arg-type,return-value]
    )
    assert list(holds) == []


async def test_an_expired_service_token_is_refused(usage: Usage) -> None:
    token = usage.user_token(uuid.uuid4())
    expired = usage.key.mint("service:llm-proxy", typ="service", ttl=-120)

    response = await usage.http.post(
        "/internal/reservations",
        json={"request_id": "r-expired", "model": "gpt-4o-mini", "prompt_tokens": 1},
        headers={"Authorization": f"Bearer {expired}", "X-User-Token": token},
    )

    assert response.status_code == 401
    assert response.json()["type"].endswith("token-expired")


async def test_one_by_one_reservations_also_let_exactly_the_balance_through(
    usage: Usage,
) -> None:
    from tollgate.shared.errors import PaymentRequired
    from tollgate.shared.security import Principal
    from tollgate.usage.reservations.decisions import Ask
    from tollgate.usage.reservations.reserve import reserve_group
    from tollgate.usage.reservations.schemas import ReservationRequest

    # What the reservation desk falls back on when a whole group fails: each
    # request a group of its own, in its own transaction, all at once.
    user = uuid.uuid4()
    await give_plan(usage, user, 20 * 150)
    caller = Principal(sub=user, typ="access", exp=2**40)

    async def one(i: int) -> bool:
        request = ReservationRequest(
            request_id=f"solo-{user}-{i}",
            model="gpt-4o-mini",
            prompt_tokens=100,
            max_completion_tokens=50,
        )
        (answer,) = await usage.db(
            lambda s: reserve_group(s, usage.settings, [Ask(caller, request)])
        )
        return not isinstance(answer, PaymentRequired)

    results = await asyncio.gather(*(one(i) for i in range(60)))

    assert results.count(True) == 20
    assert (await usage.balance(usage.user_token(user)))["available"] == 0


async def test_a_retry_inside_a_group_gets_its_hold_back_and_leaves_the_others_their_room(
    usage: Usage,
) -> None:
    from tollgate.shared.security import Principal
    from tollgate.usage.reservations.decisions import Ask
    from tollgate.usage.reservations.reserve import reserve_group
    from tollgate.usage.reservations.schemas import ReservationOut, ReservationRequest

    user = uuid.uuid4()
    await give_plan(usage, user, 1_000)
    first = await usage.reserve(
        usage.user_token(user),
        request_id=f"first-{user}",
        prompt_tokens=500,
        max_completion_tokens=100,
    )
    assert first.status_code == 201
    caller = Principal(sub=user, typ="access", exp=2**40)

    def asking(request_id: str, completion: int) -> Ask:
        request = ReservationRequest(
            request_id=request_id,
            model="gpt-4o-mini",
            prompt_tokens=0,
            max_completion_tokens=completion,
        )
        return Ask(caller, request)

    # Were the retry sized again (300 of the 400 left), the other request would not fit:
    # the retry gets its first hold back, and the other request the 400.
    retry, other = await usage.db(
        lambda s: reserve_group(
            s, usage.settings, [asking(f"first-{user}", 300), asking(f"other-{user}", 400)]
        )
    )

    assert isinstance(retry, ReservationOut)
    assert str(retry.reservation_id) == first.json()["reservation_id"]
    assert isinstance(other, ReservationOut) and other.held_tokens == 400
    assert (await usage.balance(usage.user_token(user)))["available"] == 0
