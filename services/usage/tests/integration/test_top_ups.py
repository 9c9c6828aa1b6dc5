"""Top-ups in the ledger: a paid pack is one grant, a refund takes back only what is
unused, and a balance crossing below the auto top-up threshold asks once."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from usage_builders import usage_recorded
from usage_harness import Usage, eventually, give_plan, now, recorded

from tollgate.shared.messaging import make_envelope
from tollgate.shared.messaging.events import AutoTopUpChanged, CreditsPurchased, CreditsRefunded
from tollgate.usage.models import Clawback, Grant, TopUpWatch, messaging


async def purchase_grants(usage: Usage, account_id: uuid.UUID) -> list[dict[str, Any]]:
    balance = await usage.balance(usage.user_token(account_id))
    return [g for g in balance["grants"] if g["source"] == "purchase"]


async def buy(usage: Usage, account_id: uuid.UUID, credits: int, days: int = 90) -> uuid.UUID:
    purchase_id = uuid.uuid4()
    await usage.publish(
        CreditsPurchased(
            purchase_id=purchase_id,
            account_id=account_id,
            pack_code="credits-test",
            credits=credits,
            expires_at=now() + timedelta(days=days),
        )
    )

    async def granted() -> bool:
        grants = await purchase_grants(usage, account_id)
        return any(g["amount"] == credits for g in grants)

    await eventually(granted)
    return purchase_id


async def spend(usage: Usage, user_id: uuid.UUID, tokens: int) -> None:
    event = usage_recorded(user_id, prompt_tokens=tokens, completion_tokens=0)
    await usage.publish(event)

    async def settled() -> bool:
        return await recorded(usage, event.request_id) is not None

    await eventually(settled)


async def available(usage: Usage, account_id: uuid.UUID) -> int:
    return int((await usage.balance(usage.user_token(account_id)))["available"])


async def test_a_paid_pack_announced_three_times_at_once_is_one_grant_with_its_expiry(
    usage: Usage,
) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 1_000)
    purchase_id = uuid.uuid4()
    expires = now() + timedelta(days=365)
    event = CreditsPurchased(
        purchase_id=purchase_id,
        account_id=user,
        pack_code="credits-test",
        credits=50_000,
        expires_at=expires,
    )

    await asyncio.gather(
        *(usage.broker.publish(make_envelope("billing", user, event)) for _ in range(3))
    )

    async def granted() -> list[dict[str, Any]]:
        return await purchase_grants(usage, user)

    [grant] = await eventually(granted)
    await asyncio.sleep(0.3)  # the other two announcements have had their chance
    assert len(await purchase_grants(usage, user)) == 1
    assert grant["amount"] == 50_000 and grant["remaining"] == 50_000
    assert abs((datetime.fromisoformat(grant["expires_at"]) - expires).total_seconds()) < 1
    assert await available(usage, user) == 51_000


async def test_the_plan_grant_pays_before_a_bought_pack(usage: Usage) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 10_000)
    await buy(usage, user, 20_000)

    await spend(usage, user, 500)

    [pack] = await purchase_grants(usage, user)
    assert pack["used"] == 0
    assert await available(usage, user) < 30_000


async def test_a_refund_takes_back_only_the_unused_part_of_the_pack_once(usage: Usage) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 100)
    purchase_id = await buy(usage, user, 1_000)
    await spend(usage, user, 600)  # past the plan's 100, into the pack
    [before] = await purchase_grants(usage, user)
    assert 0 < before["used"] < 1_000
    refund = CreditsRefunded(
        purchase_id=purchase_id, refund_id="re_full", account_id=user, credits=1_000
    )

    await asyncio.gather(
        *(usage.broker.publish(make_envelope("billing", user, refund)) for _ in range(3))
    )

    async def clawed() -> Clawback | None:
        return await usage.db(lambda s: s.get(Clawback, "re_full"))

    clawback = await eventually(clawed)
    await asyncio.sleep(0.3)
    assert clawback.asked == 1_000 and clawback.taken == before["remaining"]
    [after] = await purchase_grants(usage, user)
    assert after["amount"] == before["used"] and after["remaining"] == 0
    assert after["used"] == before["used"]  # what was spent stays spent

    await usage.publish(
        CreditsRefunded(purchase_id=purchase_id, refund_id="re_more", account_id=user, credits=5)
    )

    async def second() -> Clawback | None:
        return await usage.db(lambda s: s.get(Clawback, "re_more"))

    assert (await eventually(second)).taken == 0
    [still] = await purchase_grants(usage, user)
    assert still == after


async def test_a_pack_refunded_before_any_use_leaves_nothing_to_spend(usage: Usage) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 100)
    purchase_id = await buy(usage, user, 1_000)

    await usage.publish(
        CreditsRefunded(
            purchase_id=purchase_id, refund_id=f"re_{user}", account_id=user, credits=1_000
        )
    )

    async def emptied() -> bool:
        grants = await purchase_grants(usage, user)
        return bool(grants) and grants[0]["remaining"] == 0

    await eventually(emptied)
    assert await available(usage, user) == 100


async def top_up_requests(usage: Usage, account_id: uuid.UUID) -> list[dict[str, Any]]:
    async def read(session: Any) -> list[str]:
        rows = await session.scalars(
            select(messaging.outbox.c.body).where(
                messaging.outbox.c.event_type == "credits.top_up_requested"
            )
        )
        return list(rows)

    bodies = [json.loads(b) for b in await usage.db(read)]
    return [b["data"] for b in bodies if b["data"]["account_id"] == str(account_id)]


async def watch(
    usage: Usage, account_id: uuid.UUID, threshold: int, sequence: int, **kw: Any
) -> None:
    await usage.publish(
        AutoTopUpChanged(
            account_id=account_id,
            enabled=kw.get("enabled", True),
            threshold=threshold,
            sequence=sequence,
        )
    )

    async def applied() -> bool:
        row = await usage.db(lambda s: s.get(TopUpWatch, account_id))
        return row is not None and row.sequence == sequence

    await eventually(applied)


async def test_a_top_up_is_asked_for_once_per_crossing_below_the_threshold(usage: Usage) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 100_000)
    await spend(usage, user, 1_000)
    threshold = await available(usage, user) - 1
    await watch(usage, user, threshold, sequence=1)

    await spend(usage, user, 1_000)  # crosses below
    await spend(usage, user, 1_000)  # still below: the same crossing
    [first] = await top_up_requests(usage, user)
    assert first["threshold"] == threshold and first["remaining"] < threshold

    await buy(usage, user, 200_000)  # the top-up lands
    await spend(usage, user, 1_000)  # back above: armed again, nothing asked
    assert len(await top_up_requests(usage, user)) == 1

    await spend(usage, user, 10 * (await available(usage, user)))  # a second crossing
    requests = await top_up_requests(usage, user)
    assert len(requests) == 2
    assert requests[0]["crossing_id"] != requests[1]["crossing_id"]


async def test_a_stale_or_disabled_setting_asks_for_nothing(usage: Usage) -> None:
    user = uuid.uuid4()
    await give_plan(usage, user, 100_000)
    await watch(usage, user, 99_000_000, sequence=2, enabled=False)
    await usage.publish(
        AutoTopUpChanged(account_id=user, enabled=True, threshold=99_000_000, sequence=1)
    )
    await asyncio.sleep(0.3)

    await spend(usage, user, 1_000)

    row = await usage.db(lambda s: s.get(TopUpWatch, user))
    assert row is not None and row.sequence == 2 and not row.enabled
    assert await top_up_requests(usage, user) == []
    grants = await usage.db(
        lambda s: s.scalars(
            select(Grant).where(Grant.account_id == user, Grant.source == "purchase")
        )
    )
    assert list(grants) == []
