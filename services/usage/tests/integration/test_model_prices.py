"""Model prices: a call costs its tokens at its model's price, the one it was held at."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select
from usage_builders import usage_recorded
from usage_harness import Usage, eventually, give_plan, now, recorded

from tollgate.shared.messaging.events import Envelope, ModelPricesChanged
from tollgate.usage.models import messaging


def admin_headers(usage: Usage) -> dict[str, str]:
    return {"Authorization": f"Bearer {usage.user_token(uuid.uuid4(), role='admin')}"}


async def set_price(usage: Usage, model: str, price_in: Any, price_out: Any) -> httpx.Response:
    return await usage.http.put(
        f"/api/admin/model-prices/{model}",
        json={"input_per_million": price_in, "output_per_million": price_out},
        headers=admin_headers(usage),
    )


async def new_model(usage: Usage, price_in: int, price_out: int) -> str:
    """A model of this test's own, so price changes never reach another test's calls."""
    model = f"test-model-{uuid.uuid4().hex[:12]}"
    response = await set_price(usage, model, price_in, price_out)
    assert response.status_code == 200, response.text
    return model


async def settle(usage: Usage, user: uuid.UUID, prompt: int, completion: int, **kw: Any) -> int:
    """Report a call and wait for it to be recorded; what it was charged, in credits."""
    event = usage_recorded(user, prompt_tokens=prompt, completion_tokens=completion, **kw)
    await usage.publish(event)
    row = await eventually(lambda: recorded(usage, event.request_id))
    return row.charged_credits


async def reserve_and_settle(
    usage: Usage, user: uuid.UUID, model: str, prompt: int, completion: int
) -> tuple[str, int]:
    """A call reserved and then reported: its request_id and what it was charged."""
    token, request_id = usage.user_token(user), uuid.uuid4().hex
    hold = await usage.reserve(
        token,
        request_id=request_id,
        model=model,
        prompt_tokens=prompt,
        max_completion_tokens=completion,
    )
    assert hold.status_code == 201, hold.text
    reservation = uuid.UUID(hold.json()["reservation_id"])
    charged = await settle(
        usage,
        user,
        prompt,
        completion,
        model=model,
        request_id=request_id,
        reservation_id=reservation,
    )
    return request_id, charged


async def test_a_price_change_between_two_calls_charges_only_the_second_at_the_new_price(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 1_000_000)
    model = await new_model(usage, 2_000_000, 3_000_000)

    first, first_charged = await reserve_and_settle(usage, user, model, 1_001, 333)
    assert (await set_price(usage, model, 5_000_000, 7_000_000)).status_code == 200
    _, second_charged = await reserve_and_settle(usage, user, model, 1_001, 333)

    assert first_charged == 1_001 * 2 + 333 * 3
    assert second_charged == 1_001 * 5 + 333 * 7
    first_row = await recorded(usage, first)
    assert first_row is not None and first_row.charged_credits == first_charged
    assert first_row.input_per_million == 2_000_000
    balance = await usage.balance(usage.user_token(user))
    assert balance["available"] == 1_000_000 - first_charged - second_charged
    assert balance["unit"] == "credits"


async def test_a_hold_made_before_a_price_change_is_charged_at_the_price_it_was_held_at(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 100_000)
    model = await new_model(usage, 1_500_000, 4_000_000)
    token = usage.user_token(user)
    hold = (
        await usage.reserve(token, model=model, prompt_tokens=100, max_completion_tokens=100)
    ).json()
    assert (hold["held_tokens"], hold["input_per_million"], hold["unit"]) == (
        550,
        1_500_000,
        "credits",
    )

    assert (await set_price(usage, model, 9_000_000, 9_000_000)).status_code == 200
    charged = await settle(
        usage, user, 100, 7, model=model, reservation_id=uuid.UUID(hold["reservation_id"])
    )

    assert charged == 150 + 28
    usage_page = await usage.http.get(
        "/api/tokens/usage", headers={"Authorization": f"Bearer {token}"}
    )
    (row,) = usage_page.json()["items"]
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (100, 7, 107)
    assert (row["charged_credits"], row["charged_tokens"]) == (178, 178)
    assert (row["input_per_million"], row["output_per_million"]) == (1_500_000, 4_000_000)


async def test_a_late_call_without_a_hold_is_charged_at_the_price_in_force_when_it_started(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 100_000)
    model = await new_model(usage, 2_000_000, 2_000_000)
    started = now()
    assert (await set_price(usage, model, 8_000_000, 8_000_000)).status_code == 200

    charged_then = await settle(usage, user, 10, 10, model=model, started_at=started)
    charged_now = await settle(usage, user, 10, 10, model=model)

    assert (charged_then, charged_now) == (40, 160)


async def test_a_model_without_a_price_cannot_be_reserved_and_the_problem_says_so(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 100_000)

    response = await usage.reserve(usage.user_token(user), model="never-priced", prompt_tokens=10)

    assert response.status_code == 422
    assert response.json()["type"].endswith("/model-not-priced")
    assert response.json()["model"] == "never-priced"
    assert (await usage.balance(usage.user_token(user)))["reserved"] == 0


async def test_negative_zero_fractional_and_absurd_prices_are_refused_and_change_nothing(
    usage: Usage,
) -> None:
    model = await new_model(usage, 3_000_000, 4_000_000)

    for price_in, price_out in [
        (-1, 1),
        (0, 1),
        (1.5, 1),
        ("1000", 1),
        (True, 1),
        (1, 100_000_000_001),
        (None, 1),
    ]:
        response = await set_price(usage, model, price_in, price_out)
        assert response.status_code == 422, (price_in, price_out, response.text)
    bad_name = await set_price(usage, "no spaces%20here", 1, 1)
    not_admin = await usage.http.put(
        f"/api/admin/model-prices/{model}",
        json={"input_per_million": 1, "output_per_million": 1},
        headers={"Authorization": f"Bearer {usage.user_token(uuid.uuid4())}"},
    )

    assert bad_name.status_code == 422
    assert not_admin.status_code == 403
    history = await usage.http.get(f"/api/admin/model-prices/{model}", headers=admin_headers(usage))
    assert [
        (p["input_per_million"], p["output_per_million"]) for p in history.json()["prices"]
    ] == [(3_000_000, 4_000_000)]


async def test_the_price_list_starts_with_the_catalog_priced_against_the_reference_model(
    usage: Usage,
) -> None:
    response = await usage.http.get("/api/admin/model-prices", headers=admin_headers(usage))

    prices = {p["model"]: p for p in response.json()["prices"]}
    assert response.json()["unit"] == "credits"
    assert (
        prices["gpt-4o-mini"]["input_per_million"],
        prices["gpt-4o-mini"]["output_per_million"],
    ) == (
        1_000_000,
        1_000_000,
    )
    assert prices["claude-sonnet-4"]["output_per_million"] == 25_000_000


async def test_a_plans_allocation_buys_exactly_as_many_reference_model_tokens_as_before(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 5_000)
    token = usage.user_token(user)

    too_much = await usage.reserve(token, prompt_tokens=4_000, max_completion_tokens=1_001)
    exactly = await usage.reserve(token, prompt_tokens=4_000, max_completion_tokens=1_000)

    assert too_much.status_code == 402
    assert exactly.status_code == 201
    assert exactly.json()["held_tokens"] == 5_000


async def test_every_price_change_announces_the_whole_list_with_a_higher_version(
    usage: Usage,
) -> None:
    model = await new_model(usage, 1_000_000, 2_000_000)
    assert (await set_price(usage, model, 1_000_000, 3_000_000)).status_code == 200

    async def announced() -> list[ModelPricesChanged]:
        rows = await usage.db(
            lambda s: s.execute(
                select(messaging.outbox.c.body).where(
                    messaging.outbox.c.event_type == "model_prices.changed",
                    messaging.outbox.c.created_at > now() - timedelta(minutes=1),
                )
            )
        )
        found = [
            ModelPricesChanged.model_validate(Envelope.model_validate_json(body).data)
            for (body,) in rows
        ]
        return sorted(found, key=lambda e: e.version)

    events = await announced()
    mine = [(e.version, p.output_per_million) for e in events for p in e.prices if p.model == model]
    assert [price for _, price in mine[-2:]] == [2_000_000, 3_000_000]
    assert mine[-2][0] < mine[-1][0]
    assert {"gpt-4o-mini", "gpt-4o", model} <= {p.model for p in events[-1].prices}
