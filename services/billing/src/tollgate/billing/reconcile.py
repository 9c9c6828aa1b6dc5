"""Reconciliation: apply Stripe events we missed, and report accounts that differ from Stripe.

    python -m tollgate.billing reconcile [--hours N]

Webhooks can be lost (an outage longer than Stripe's retries, a secret rotated
too early). Stripe keeps 30 days of events; this pulls the recent ones, applies
those not recorded yet exactly as the webhook would have, then compares every
Stripe-billed subscription with Stripe's current object.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tollgate.billing.plans import repository as plans
from tollgate.billing.stripe_api import StripeApi
from tollgate.billing.subscriptions import domain
from tollgate.billing.subscriptions import repository as subscriptions
from tollgate.billing.subscriptions.sync import now_utc, state_of
from tollgate.billing.webhooks import repository as stripe_events
from tollgate.billing.webhooks.service import apply_event
from tollgate.shared.errors import BadRequest, TollgateError

log = logging.getLogger("tollgate.billing.reconcile")


@dataclass
class Drift:
    account_id: str
    stripe_subscription_id: str
    ours: dict[str, Any]
    stripe: dict[str, Any]


@dataclass
class Report:
    events_seen: int = 0
    events_applied: list[str] = field(default_factory=list)
    events_failed: list[str] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)


async def missed_events(
    sessionmaker: async_sessionmaker[AsyncSession], stripe: StripeApi, since: int
) -> tuple[int, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    starting_after: str | None = None
    for _ in range(1000):  # 100k events at most: far more than a few days hold
        page = await stripe.list_events(created_gte=since, starting_after=starting_after)
        batch = list(page.get("data") or [])
        events.extend(batch)
        if not page.get("has_more") or not batch:
            break
        starting_after = str(batch[-1]["id"])
    async with sessionmaker() as session:
        known = await stripe_events.known(session, [str(e["id"]) for e in events])
    missed = [e for e in events if e["id"] not in known]
    missed.sort(key=lambda e: (int(e.get("created") or 0), str(e["id"])))
    return len(events), missed


def _fields(state: domain.AccountPlan) -> dict[str, Any]:
    return {
        "plan": state.plan,
        "status": state.status,
        "current_period_end": state.period_end.isoformat(),
        "cancel_at_period_end": state.cancel_at_period_end,
        "seats": state.seats,
    }


async def compare(session: AsyncSession, stripe: StripeApi) -> list[Drift]:
    drift = []
    by_code = await plans.all_by_code(session)
    by_price = {
        price: p.code
        for p in by_code.values()
        for price in (p.stripe_price_id, p.stripe_yearly_price_id)
        if price
    }
    for row in await subscriptions.all_with_stripe(session):
        assert row.stripe_subscription_id is not None
        try:
            obj = await stripe.get_subscription(row.stripe_subscription_id)
        except BadRequest as exc:
            # Stripe does not know it (a wrong id moved in from another backend): that is
            # drift to report, not a reason to stop comparing the others.
            error = {"error": exc.detail}
            drift.append(
                Drift(
                    str(row.account_id), row.stripe_subscription_id, _fields(state_of(row)), error
                )
            )
            continue
        sub = domain.StripeSubscription.parse(obj)
        ours = state_of(row)
        theirs = domain.apply_stripe(ours, sub, by_price.get(sub.price_id or "", "?"), now_utc())
        if _fields(ours) != _fields(theirs):
            drift.append(
                Drift(
                    str(row.account_id), row.stripe_subscription_id, _fields(ours), _fields(theirs)
                )
            )
    return drift


async def reconcile(
    sessionmaker: async_sessionmaker[AsyncSession], stripe: StripeApi, *, hours: int
) -> Report:
    report = Report()
    since = int(time.time()) - hours * 3600
    report.events_seen, missed = await missed_events(sessionmaker, stripe, since)
    for event in missed:
        try:
            async with sessionmaker() as session, session.begin():
                outcome = await apply_event(session, stripe, event, source="reconcile")
        except TollgateError as exc:
            log.error("could not apply Stripe event %s: %s", event["id"], exc.detail)
            report.events_failed.append(str(event["id"]))
            continue
        if outcome != "duplicate":
            report.events_applied.append(str(event["id"]))
    async with sessionmaker() as session:
        report.drift = await compare(session, stripe)
    return report
