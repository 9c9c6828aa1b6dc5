"""Moving in from another backend: the old Stripe subscription kept, history kept, once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from conftest import EventTap, Users
from sqlalchemy import func, select

from tollgate.billing.models import Invoice, Payment
from tollgate.billing.reconcile import reconcile
from tollgate.shared.messaging import make_envelope
from tollgate.shared.messaging.events import UserRegistered
from tollgate.standins.stripe import StripeStandIn

START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=9)


def subscription(user: uuid.UUID, **changes: Any) -> dict[str, Any]:
    return {
        "source": "old/subscriptions",
        "source_id": str(user),
        "account_id": str(user),
        "user_id": str(user),
        "email": f"{user.hex[:8]}@example.com",
        "plan": "pro",
        "status": "past_due",
        "current_period_start": START.isoformat(),
        "current_period_end": (START + timedelta(days=30)).isoformat(),
        "stripe_customer_id": f"cus_old{user.hex[:10]}",
        "stripe_subscription_id": f"sub_old{user.hex[:10]}",
        **changes,
    }


async def register_imported(users: Users, user: uuid.UUID) -> None:
    data = UserRegistered(user_id=user, email=f"{user.hex[:8]}@example.com", name="Ada")
    imported = UserRegistered.model_validate(data.model_dump() | {"imported": True})
    await users.broker.publish(make_envelope("auth", user, imported))


async def test_an_imported_subscription_keeps_its_stripe_ids_and_is_announced_once(
    client: httpx.AsyncClient, users: Users, tap: EventTap, stripe_standin: StripeStandIn
) -> None:
    user = uuid.uuid4()
    headers = users.auth(uuid.uuid4(), role="superadmin")

    first = await client.post(
        "/api/admin/imports/subscriptions", json=subscription(user), headers=headers
    )
    await register_imported(users, user)
    again = await client.post(
        "/api/admin/imports/subscriptions",
        json=subscription(user, plan="enterprise"),
        headers=headers,
    )

    assert first.status_code == 201, first.text
    assert (again.status_code, again.json()["plan"]) == (200, "pro")  # left alone
    event = await tap.wait_for(user, lambda d: d["plan"] == "pro")
    assert (event["status"], event["sequence"]) == ("past_due", 1)
    await asyncio.sleep(0.3)  # the imported user.registered has been applied by now
    customer = await users.customer(user)
    assert customer is not None and customer.stripe_customer_id == f"cus_old{user.hex[:10]}"
    row = await users.subscription(user)
    assert row is not None and row.stripe_subscription_id == f"sub_old{user.hex[:10]}"
    assert len(tap.for_account(user)) == 1
    assert not [c for c in stripe_standin.customers.values() if c["email"] == customer.email]


async def test_an_unknown_plan_is_a_422_and_writes_nothing(
    client: httpx.AsyncClient, users: Users
) -> None:
    user = uuid.uuid4()
    headers = users.auth(uuid.uuid4(), role="superadmin")

    response = await client.post(
        "/api/admin/imports/subscriptions", json=subscription(user, plan="gold"), headers=headers
    )

    assert response.status_code == 422
    assert response.json()["type"].endswith("/unknown-plan")
    assert await users.subscription(user) is None and await users.customer(user) is None


async def test_imports_are_for_superadmins_only(client: httpx.AsyncClient, users: Users) -> None:
    response = await client.post(
        "/api/admin/imports/subscriptions", json=subscription(uuid.uuid4()), headers=users.admin()
    )
    assert response.status_code == 403


async def test_past_invoices_and_payments_are_kept_once_as_history(
    client: httpx.AsyncClient, users: Users
) -> None:
    account = uuid.uuid4()
    headers = users.auth(uuid.uuid4(), role="superadmin")
    invoice = {
        "source": "old/invoices",
        "source_id": "inv-1",
        "account_id": str(account),
        "number": "INV-2025-001",
        "status": "paid",
        "amount_due": 1000,
        "amount_paid": 1000,
        "created": START.isoformat(),
    }
    payment = {
        "source": "old/payments",
        "source_id": "pay-1",
        "account_id": str(account),
        "status": "succeeded",
        "amount": 1000,
        "amount_refunded": 250,
        "created": START.isoformat(),
    }

    made = await client.post("/api/admin/imports/invoices", json=invoice, headers=headers)
    paid = await client.post(
        "/api/admin/imports/payments",
        json=payment | {"invoice_id": made.json()["id"]},
        headers=headers,
    )
    repeated = await client.post("/api/admin/imports/invoices", json=invoice, headers=headers)
    too_much = await client.post(
        "/api/admin/imports/payments",
        json=payment | {"source_id": "pay-2", "amount_refunded": 5000},
        headers=headers,
    )

    assert (made.status_code, paid.status_code, repeated.status_code) == (201, 201, 200)
    assert too_much.status_code == 422
    async with users.app.state.sessionmaker() as session:
        invoices = await session.scalar(select(func.count()).where(Invoice.account_id == account))
        stored = await session.get(Payment, paid.json()["id"])
    assert invoices == 1
    assert stored is not None and stored.invoice_id == "import:old/invoices:inv-1"


async def test_reconciliation_reports_an_imported_subscription_stripe_does_not_know(
    app: Any, client: httpx.AsyncClient, users: Users
) -> None:
    user = uuid.uuid4()
    headers = users.auth(uuid.uuid4(), role="superadmin")
    await client.post("/api/admin/imports/subscriptions", json=subscription(user), headers=headers)

    report = await reconcile(app.state.sessionmaker, app.state.billing.stripe, hours=1)

    (drift,) = [d for d in report.drift if d.account_id == str(user)]
    assert drift.stripe_subscription_id == f"sub_old{user.hex[:10]}"
    assert "error" in drift.stripe
