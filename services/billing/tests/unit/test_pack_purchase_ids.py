"""A pack's next purchase id: the same on a retried request, new after each purchase."""

from __future__ import annotations

import uuid

from tollgate.billing.models import CreditPack, Purchase
from tollgate.billing.topups.purchases import next_purchase_id

ACCOUNT = uuid.uuid4()


def pack(**changes: object) -> CreditPack:
    fields: dict[str, object] = {"code": "credits-1m", "credits": 1_000_000, "price_cents": 500}
    return CreditPack(**{**fields, **changes})


def test_a_retried_request_names_the_same_purchase_and_so_the_same_checkout_page() -> None:
    assert next_purchase_id(ACCOUNT, pack(), None) == next_purchase_id(ACCOUNT, pack(), None)


def test_a_purchase_after_another_or_at_new_terms_gets_a_new_id() -> None:
    first = next_purchase_id(ACCOUNT, pack(), None)
    earlier = Purchase(id=first)

    assert next_purchase_id(ACCOUNT, pack(), earlier) != first
    assert next_purchase_id(ACCOUNT, pack(price_cents=600), None) != first
    assert next_purchase_id(uuid.uuid4(), pack(), None) != first
