"""The integration events between services: one envelope, one data model per type.

Data models accept extra fields, so a producer can add to an event without
breaking consumers still on the older model.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from tollgate.shared.decimals import PlainDecimal

__all__ = [
    "EVENT_TYPES",
    "ApiKeyRevoked",
    "ApiKeyScopesChanged",
    "BalanceLow",
    "Envelope",
    "EventData",
    "OrgMemberAdded",
    "OrgMemberRemoved",
    "OrgMemberUpdated",
    "QuotaExhausted",
    "SessionsRevoked",
    "SubUserUpdated",
    "SubscriptionChanged",
    "UsageRecorded",
    "UserDeleted",
    "UserRegistered",
    "UserUpdated",
    "make_envelope",
]


class EventData(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    event_type: ClassVar[str] = ""


class UserRegistered(EventData):
    event_type: ClassVar[str] = "user.registered"
    user_id: uuid.UUID
    email: str
    name: str | None = None
    org_id: uuid.UUID | None = None
    parent_user_id: uuid.UUID | None = None


class UserUpdated(EventData):
    event_type: ClassVar[str] = "user.updated"
    user_id: uuid.UUID
    email: str
    name: str | None = None
    role: str
    is_active: bool


class UserDeleted(EventData):
    event_type: ClassVar[str] = "user.deleted"
    user_id: uuid.UUID


class SessionsRevoked(EventData):
    event_type: ClassVar[str] = "auth.sessions_revoked"
    user_id: uuid.UUID
    session_id: uuid.UUID | None = None  # None: every session of the user
    not_before: datetime


class ApiKeyRevoked(EventData):
    event_type: ClassVar[str] = "apikey.revoked"
    key_id: uuid.UUID
    user_id: uuid.UUID


class ApiKeyScopesChanged(EventData):
    """A key's scopes were changed; ``changed_at`` orders two changes of one key."""

    event_type: ClassVar[str] = "apikey.scopes_changed"
    key_id: uuid.UUID
    user_id: uuid.UUID
    scopes: list[str]
    changed_at: datetime


class OrgMemberAdded(EventData):
    event_type: ClassVar[str] = "org.member_added"
    org_id: uuid.UUID
    user_id: uuid.UUID
    role: str


class OrgMemberRemoved(EventData):
    event_type: ClassVar[str] = "org.member_removed"
    org_id: uuid.UUID
    user_id: uuid.UUID
    role: str | None = None


class OrgMemberUpdated(EventData):
    """A member's role changed; consumers compare ``occurred_at`` to drop a stale one."""

    event_type: ClassVar[str] = "org.member_updated"
    org_id: uuid.UUID
    user_id: uuid.UUID
    role: str


class SubUserUpdated(EventData):
    """A sub-user's terms changed: cap (None: no cap), permissions, or enabled/disabled."""

    event_type: ClassVar[str] = "sub_user.updated"
    user_id: uuid.UUID
    parent_user_id: uuid.UUID
    token_limit: int | None = None
    permissions: list[str] = Field(default_factory=list)
    is_active: bool = True


class SubscriptionChanged(EventData):
    event_type: ClassVar[str] = "subscription.changed"
    account_id: uuid.UUID
    user_id: uuid.UUID | None = None
    org_id: uuid.UUID | None = None
    plan: str
    status: str
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool = False
    monthly_tokens: int
    limits: dict[str, Any] = Field(default_factory=dict)
    sequence: int


class UsageRecorded(EventData):
    event_type: ClassVar[str] = "usage.recorded"
    request_id: str
    reservation_id: uuid.UUID | None = None
    user_id: uuid.UUID
    org_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    model: str
    provider: str
    endpoint: str
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    total_tokens: int = Field(ge=0)
    cost_usd: PlainDecimal
    status: str
    latency_ms: int | None = None
    ttft_ms: int | None = None
    started_at: datetime
    # What the extension was doing (X-Tollgate-Feature); usage falls back to the endpoint.
    feature: str | None = None


class BalanceLow(EventData):
    event_type: ClassVar[str] = "balance.low"
    account_id: uuid.UUID
    remaining: int
    threshold: int


class QuotaExhausted(EventData):
    event_type: ClassVar[str] = "quota.exhausted"
    account_id: uuid.UUID
    remaining: int
    threshold: int = 0


EVENT_TYPES: dict[str, type[EventData]] = {
    cls.event_type: cls
    for cls in (
        UserRegistered,
        UserUpdated,
        UserDeleted,
        SessionsRevoked,
        ApiKeyRevoked,
        ApiKeyScopesChanged,
        OrgMemberAdded,
        OrgMemberRemoved,
        OrgMemberUpdated,
        SubUserUpdated,
        SubscriptionChanged,
        UsageRecorded,
        BalanceLow,
        QuotaExhausted,
    )
}


class Envelope(BaseModel):
    """What travels on the wire; ``type`` is also the routing key."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    type: str
    version: int = 1
    source: str
    occurred_at: datetime
    subject: str
    data: dict[str, Any]

    def parsed(self) -> EventData:
        """The data as its event model; unknown types come back as plain EventData."""
        model = EVENT_TYPES.get(self.type, EventData)
        return model.model_validate(self.data)


def make_envelope(source: str, subject: str | uuid.UUID, data: EventData) -> Envelope:
    event_type = data.event_type
    payload = data.model_dump(mode="json")
    return Envelope(
        id=uuid.uuid4(),
        type=event_type,
        source=source,
        occurred_at=datetime.now(UTC),
        subject=str(subject),
        data=payload,
    )


# Top-ups: credit packs bought once, and auto top-up.


class CreditsPurchased(EventData):
    """A pack was paid for: usage grants its credits once per ``purchase_id``."""

    event_type: ClassVar[str] = "credits.purchased"
    purchase_id: uuid.UUID
    account_id: uuid.UUID
    pack_code: str
    credits: int = Field(gt=0)
    expires_at: datetime | None = None
    # Set when the account is an organization's pool.
    org_id: uuid.UUID | None = None


class CreditsRefunded(EventData):
    """A pack's payment was refunded: usage takes back at most the grant's unused part."""

    event_type: ClassVar[str] = "credits.refunded"
    purchase_id: uuid.UUID
    refund_id: str
    account_id: uuid.UUID
    credits: int = Field(gt=0)


class AutoTopUpChanged(EventData):
    """An account's auto top-up setting; ``sequence`` orders them."""

    event_type: ClassVar[str] = "auto_top_up.changed"
    account_id: uuid.UUID
    enabled: bool
    threshold: int = Field(ge=0)
    sequence: int


class TopUpRequested(EventData):
    """The balance fell below the account's auto top-up threshold: one per crossing."""

    event_type: ClassVar[str] = "credits.top_up_requested"
    account_id: uuid.UUID
    crossing_id: uuid.UUID
    remaining: int
    threshold: int


class AutoTopUpDisabled(EventData):
    """Auto top-up was turned off by billing (a declined card); the person is told."""

    event_type: ClassVar[str] = "auto_top_up.disabled"
    account_id: uuid.UUID
    user_id: uuid.UUID
    pack_code: str
    reason: str


EVENT_TYPES.update(
    {
        cls.event_type: cls
        for cls in (
            CreditsPurchased,
            CreditsRefunded,
            AutoTopUpChanged,
            TopUpRequested,
            AutoTopUpDisabled,
        )
    }
)
__all__ += [
    "AutoTopUpChanged",
    "AutoTopUpDisabled",
    "CreditsPurchased",
    "CreditsRefunded",
    "TopUpRequested",
]
