"""A bought pack is drawn after the month's plan grant: the expiry rule gives that order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tollgate.usage.ledger.domain import GrantState, add_month, draw

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def grant(amount: int, expires_at: datetime | None, started: datetime = NOW) -> GrantState:
    return GrantState(uuid.uuid4(), amount, 0, 0, started, expires_at)


def test_this_months_plan_grant_pays_before_a_pack_bought_today() -> None:
    plan = grant(1_000, add_month(NOW))
    # The shortest pack billing sells lasts 32 days, longer than any month.
    pack = grant(5_000, NOW + timedelta(days=32))

    assert draw([pack, plan], 1_500) == [(plan.id, 1_000), (pack.id, 500)]


def test_a_pack_without_expiry_pays_last() -> None:
    plan = grant(1_000, add_month(NOW))
    forever = grant(5_000, None)
    promo = grant(200, NOW + timedelta(days=300))

    assert [g for g, _ in draw([forever, promo, plan], 1_300)] == [plan.id, promo.id, forever.id]
