import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from tollgate.shared.messaging.events import (
    EVENT_TYPES,
    Envelope,
    SubscriptionChanged,
    UsageRecorded,
    make_envelope,
)


def usage(**overrides: object) -> UsageRecorded:
    fields: dict[str, object] = {
        "request_id": "req-1",
        "user_id": uuid.uuid4(),
        "model": "gpt-4o-mini",
        "provider": "openai",
        "endpoint": "chat/completions",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "cost_usd": Decimal("0.000123"),
        "status": "succeeded",
        "started_at": datetime.now(UTC),
    }
    fields.update(overrides)
    return UsageRecorded.model_validate(fields)


def test_every_event_of_the_design_has_a_model() -> None:
    assert set(EVENT_TYPES) == {
        "user.registered",
        "user.updated",
        "user.deleted",
        "auth.sessions_revoked",
        "apikey.scopes_changed",
        "apikey.revoked",
        "org.member_added",
        "org.member_removed",
        "org.member_updated",
        "sub_user.updated",
        "subscription.changed",
        "usage.recorded",
        "balance.low",
        "quota.exhausted",
        "plan.updated",
        "model_prices.changed",
        "credits.purchased",
        "credits.refunded",
        "auto_top_up.changed",
        "credits.top_up_requested",
        "auto_top_up.disabled",
    }


def test_an_envelope_survives_the_wire_with_exact_decimal_cost() -> None:
    envelope = make_envelope("llm-proxy", "user-1", usage())
    wire = envelope.model_dump_json()
    back = Envelope.model_validate_json(wire)
    assert back.type == "usage.recorded"
    assert back.version == 1
    assert back.data["cost_usd"] == "0.000123"
    parsed = back.parsed()
    assert isinstance(parsed, UsageRecorded)
    assert parsed.cost_usd == Decimal("0.000123")


def test_negative_token_counts_are_refused() -> None:
    with pytest.raises(ValidationError):
        usage(prompt_tokens=-1)


def test_consumers_ignore_fields_they_do_not_know_yet() -> None:
    now = datetime.now(UTC)
    data = {
        "account_id": str(uuid.uuid4()),
        "plan": "pro",
        "status": "active",
        "current_period_start": now.isoformat(),
        "current_period_end": now.isoformat(),
        "monthly_tokens": 5,
        "sequence": 3,
        "added_in_version_2": True,
    }
    event = SubscriptionChanged.model_validate(data)
    assert event.sequence == 3
