"""What a source becomes before it is written: Tollgate's records, each with its origin.

A shape (one per kind of backend) turns raw rows into these; checks then refuse
rows that break a rule across rows; the writer sends what is left to the services.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

__all__ = [
    "Balance",
    "Extract",
    "Grant",
    "Invoice",
    "Organization",
    "Payment",
    "Person",
    "Ref",
    "Refusal",
    "Subscription",
    "Usage",
]


@dataclass(frozen=True, order=True)
class Ref:
    """A row of the old system: its deployment (the mapping's ``source``), collection and id."""

    source: str
    collection: str
    id: str

    def __str__(self) -> str:
        return f"{self.source}/{self.collection}/{self.id}"

    def part(self, name: str) -> Ref:
        """The ref of a record made from part of this row (a user's plan, its balance)."""
        return Ref(self.source, self.collection, f"{self.id}#{name}")

    @property
    def api_source(self) -> str:
        """The ``source`` the services key this row by (lower-case, no spaces)."""
        return re.sub(r"[^a-z0-9_.:/-]", "-", f"{self.source}/{self.collection}".lower())


@dataclass
class Person:
    ref: Ref
    email: str
    name: str | None
    role: str = "user"
    verified: bool = False
    active: bool = True
    created_at: datetime | None = None
    password_hash: str | None = None
    parent: Ref | None = None  # a sub-user's parent
    permissions: list[str] = field(default_factory=list)
    token_limit: int | None = None


@dataclass
class Organization:
    ref: Ref
    name: str
    created_at: datetime | None
    members: list[tuple[Ref, str]] = field(default_factory=list)  # (person, owner|admin|member)


@dataclass
class Subscription:
    ref: Ref
    owner: Ref  # a person or an organization
    payer: Ref | None  # the person who pays for an organization's plan
    plan: str  # a Tollgate plan code
    status: str
    period_start: datetime
    period_end: datetime
    cancel_at_period_end: bool = False
    stripe_customer_id: str | None = None
    stripe_subscription_id: str | None = None


@dataclass
class Balance:
    """What the owner had left of the current period, in Tollgate tokens."""

    ref: Ref
    owner: Ref
    period_start: datetime
    period_end: datetime
    remaining: int


@dataclass
class Grant:
    ref: Ref
    owner: Ref
    amount: int
    expires_at: datetime | None
    starts_at: datetime | None = None
    source: str = "promotional"


@dataclass
class Usage:
    ref: Ref
    user: Ref
    account: Ref | None  # the organization that paid, when not the user (or its parent)
    model: str
    provider: str
    feature: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: Decimal
    started_at: datetime
    status: str = "ok"


@dataclass
class Invoice:
    ref: Ref
    owner: Ref
    number: str | None
    status: str
    currency: str
    amount_due: int  # cents
    amount_paid: int
    created: datetime
    paid_at: datetime | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None


@dataclass
class Payment:
    ref: Ref
    owner: Ref
    invoice: Ref | None
    status: str
    currency: str
    amount: int  # cents
    amount_refunded: int
    created: datetime


@dataclass(frozen=True)
class Refusal:
    """A row left out, and why; ``because_of`` names the bad row it depended on."""

    ref: Ref
    reason: str
    because_of: Ref | None = None


@dataclass
class Extract:
    """Everything one source yields, and the rows it refused while reading."""

    people: list[Person] = field(default_factory=list)
    organizations: list[Organization] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    balances: list[Balance] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    usage: list[Usage] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    read: Counter[str] = field(default_factory=Counter)

    def refuse(self, ref: Ref, reason: str, because_of: Ref | None = None) -> None:
        self.refusals.append(Refusal(ref, reason, because_of))

    def merge(self, other: Extract) -> None:
        for name in (
            "people",
            "organizations",
            "subscriptions",
            "balances",
            "grants",
            "usage",
            "invoices",
            "payments",
            "refusals",
        ):
            getattr(self, name).extend(getattr(other, name))
        self.read.update(other.read)
