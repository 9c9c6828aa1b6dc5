"""Deleted users, renewals of free plans, and reconciliation with Stripe."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from builders import current, subscribed_user
from conftest import EventTap, Users

from tollgate.billing.models import Subscription
from tollgate.billing.reconcile import reconcile
from tollgate.billing.subscriptions.sync import now_utc, renew_local_periods
from tollgate.shared.messaging import Broker, make_envelope
from tollgate.shared.messaging.events import UserDeleted, UserUpdated
from tollgate.standins.stripe import StripeStandIn


async def test_a_deleted_user_stops_paying_and_is_forgotten(
    users: Users,
    broker: Broker,
    client: httpx.AsyncClient,
    stripe_standin: StripeStandIn,
    tap: EventTap,
) -> None:
    user_id, sub_id = await subscribed_user(users, client, stripe_standin)
    customer_id = stripe_standin.subscriptions[sub_id]["customer"]
    await broker.publish(make_envelope("auth", user_id, UserDeleted(user_id=user_id)))

    changed = await tap.wait_for(user_id, lambda d: d["status"] == "canceled")
    assert changed["plan"] == "free"
    assert stripe_standin.subscriptions[sub_id]["status"] == "canceled"
    assert customer_id not in stripe_standin.customers
    customer = await users.customer(user_id)
    assert customer is not None and customer.deleted_at is not None
    assert (customer.email, customer.name, customer.stripe_customer_id) == (None, None, None)
    # Invoices stay for the books.
    invoices = (await client.get("/api/billing/invoices", headers=users.auth(user_id))).json()
    assert invoices["total"] == 1


async def test_a_free_plan_rolls_into_its_next_period_once(
    app: Any, users: Users, tap: EventTap
) -> None:
    user_id = await users.register()
    async with app.state.sessionmaker() as session, session.begin():
        row = await session.get(Subscription, user_id)
        assert row is not None
        row.current_period_start -= timedelta(days=40)
        row.current_period_end = now_utc() - timedelta(days=9)
        old_end = row.current_period_end
    async with app.state.sessionmaker() as session, session.begin():
        assert await renew_local_periods(session) >= 1
    async with app.state.sessionmaker() as session, session.begin():
        await renew_local_periods(session)
    renewed = await tap.wait_for(user_id, lambda d: d["sequence"] == 2)
    assert renewed["plan"] == "free"
    assert renewed["current_period_start"].startswith(old_end.date().isoformat())
    await asyncio.sleep(0.2)
    assert [d["sequence"] for d in tap.for_account(user_id)] == [1, 2]


async def test_reconciliation_applies_a_lost_webhook_and_reports_drift(
    app: Any, users: Users, client: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    user_id, sub_id = await subscribed_user(users, client, stripe_standin)
    stripe_standin.update_subscription(sub_id, {"cancel_at_period_end": "true"})
    [lost] = stripe_standin.take_pending()  # the webhook never arrives

    report = await reconcile(app.state.sessionmaker, app.state.billing.stripe, hours=1)

    assert lost["id"] in report.events_applied
    assert (await current(users, client, user_id))["cancel_at_period_end"] is True
    assert str(user_id) not in [d.account_id for d in report.drift]

    # Stripe changes without telling anyone: reconciliation reports it.
    stripe_standin.subscriptions[sub_id]["status"] = "past_due"
    report = await reconcile(app.state.sessionmaker, app.state.billing.stripe, hours=1)
    drift = [d for d in report.drift if d.account_id == str(user_id)]
    assert len(drift) == 1
    assert (drift[0].ours["status"], drift[0].stripe["status"]) == ("active", "past_due")
    assert lost["id"] not in report.events_applied


async def test_a_changed_email_reaches_the_stripe_customer(
    users: Users, broker: Broker, stripe_standin: StripeStandIn
) -> None:
    user_id = await users.register()
    customer = await users.customer(user_id)
    assert customer is not None
    update = UserUpdated(
        user_id=user_id, email="new@example.com", name="Ada L", role="user", is_active=True
    )
    await broker.publish(make_envelope("auth", user_id, update))
    for _ in range(100):
        updated = await users.customer(user_id)
        if updated is not None and updated.email == "new@example.com":
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("user.updated was not applied")
    theirs = stripe_standin.customers[str(customer.stripe_customer_id)]
    assert (theirs["email"], theirs["name"]) == ("new@example.com", "Ada L")
