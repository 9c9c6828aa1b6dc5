"""What an account's subscription becomes when Stripe reports a subscription: no I/O here.

Billing always applies Stripe's *current* subscription object (refetched under the
account's row lock), never the snapshot inside a webhook, so events arriving in any
order, or twice, end in the same state.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# Statuses in which the customer keeps the plan they pay for. past_due keeps it too:
# Stripe is still retrying the card, and cutting a paying customer off on the first
# failed attempt punishes an expired card more than a non-payer.
PAID_ACCESS = frozenset({"active", "trialing", "past_due"})
# Stripe gave up on the subscription: the account is back on free.
ENDED = frozenset({"canceled", "incomplete_expired"})
# Stripe stopped retrying but keeps the subscription: free until an invoice is paid.
LAPSED = frozenset({"unpaid", "paused"})
# Checkout has not been paid for yet: nothing changes until it is.
PENDING = frozenset({"incomplete"})

FREE = "free"


def utc(ts: int | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def add_month(moment: datetime) -> datetime:
    """The same day and time next month, clamped to the month's last day."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return moment + timedelta(days=30)


@dataclass(frozen=True)
class StripeSubscription:
    """The fields of a Stripe subscription that billing acts on."""

    id: str
    customer: str
    status: str
    item_id: str | None
    price_id: str | None
    quantity: int
    period_start: datetime | None
    period_end: datetime | None
    cancel_at_period_end: bool
    metadata: dict[str, str]
    trial_start: datetime | None = None
    trial_end: datetime | None = None

    @property
    def account_id(self) -> uuid.UUID | None:
        return parse_uuid(self.metadata.get("tollgate_account_id"))

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> StripeSubscription:
        items = (obj.get("items") or {}).get("data") or []
        item: dict[str, Any] = items[0] if items else {}
        price = item.get("price") or {}
        # Newer API versions keep the period on the item; older ones on the subscription.
        start = item.get("current_period_start", obj.get("current_period_start"))
        end = item.get("current_period_end", obj.get("current_period_end"))
        customer = obj.get("customer")
        if isinstance(customer, dict):
            customer = customer.get("id")
        return cls(
            id=str(obj["id"]),
            customer=str(customer or ""),
            status=str(obj.get("status") or ""),
            item_id=item.get("id"),
            price_id=price.get("id") if isinstance(price, dict) else price,
            quantity=int(item.get("quantity") or 1),
            period_start=utc(start),
            period_end=utc(end),
            cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
            metadata={str(k): str(v) for k, v in (obj.get("metadata") or {}).items()},
            trial_start=utc(obj.get("trial_start")),
            trial_end=utc(obj.get("trial_end")),
        )


@dataclass(frozen=True)
class AccountPlan:
    """The state of an account's subscription that consumers of subscription.changed see."""

    plan: str
    status: str
    stripe_subscription_id: str | None
    period_start: datetime
    period_end: datetime
    cancel_at_period_end: bool
    seats: int
    scheduled_plan: str | None
    scheduled_at: datetime | None
    billing_interval: str = "month"
    # When a trial ends (while status is trialing).
    trial_end: datetime | None = None

    def published_fields(self) -> tuple[Any, ...]:
        return (
            self.plan,
            self.status,
            self.period_start,
            self.period_end,
            self.cancel_at_period_end,
            self.seats,
        )


def free_period(now: datetime) -> tuple[datetime, datetime]:
    start = now.replace(microsecond=0)
    return start, add_month(start)


def unbilled(
    plan: str, period: tuple[datetime, datetime], stripe_subscription_id: str | None = None
) -> AccountPlan:
    """A plan Stripe does not bill (free, or granted by an admin): active, one seat,
    nothing scheduled."""
    start, end = period
    return AccountPlan(
        plan=plan,
        status="active",
        stripe_subscription_id=stripe_subscription_id,
        period_start=start,
        period_end=end,
        cancel_at_period_end=False,
        seats=1,
        scheduled_plan=None,
        scheduled_at=None,
    )


def on_free(current: AccountPlan, now: datetime, keep_stripe_id: str | None) -> AccountPlan:
    period = free_period(now)
    if current.plan == FREE and current.stripe_subscription_id is None:
        period = current.period_start, current.period_end
    return unbilled(FREE, period, keep_stripe_id)


def apply_stripe(
    current: AccountPlan,
    sub: StripeSubscription,
    stripe_plan: str,
    now: datetime,
    interval: str = "month",
) -> AccountPlan:
    """The account's state once Stripe's subscription ``sub`` (on ``stripe_plan``) is applied."""
    ours = current.stripe_subscription_id
    # An older subscription ending, or a second live one we did not start: ours wins.
    if ours not in (None, sub.id) and (
        sub.status not in PAID_ACCESS or current.status in PAID_ACCESS
    ):
        return current
    if sub.status in PENDING:
        return current
    if sub.status in ENDED:
        if ours != sub.id:
            return current
        return on_free(current, now, keep_stripe_id=None)
    if sub.status in LAPSED:
        lapsed = on_free(current, now, keep_stripe_id=sub.id)
        return dataclasses.replace(lapsed, status=sub.status)
    plan = stripe_plan
    scheduled_plan, scheduled_at = current.scheduled_plan, current.scheduled_at
    if scheduled_plan is not None:
        waiting = (
            stripe_plan == scheduled_plan
            and scheduled_at is not None
            and sub.period_start is not None
            and sub.period_start < scheduled_at
        )
        if waiting:
            plan = current.plan  # a downgrade waits for the period the customer paid for
        else:
            scheduled_plan, scheduled_at = None, None
    return AccountPlan(
        plan=plan,
        status=sub.status,
        stripe_subscription_id=sub.id,
        period_start=sub.period_start or current.period_start,
        period_end=sub.period_end or current.period_end,
        cancel_at_period_end=sub.cancel_at_period_end,
        seats=sub.quantity,
        scheduled_plan=scheduled_plan,
        scheduled_at=scheduled_at,
        billing_interval=interval,
        trial_end=sub.trial_end if sub.status == "trialing" else None,
    )


def parse_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None
