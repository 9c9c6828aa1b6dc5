"""The Stripe webhook endpoint: no JWT; the signature over the raw body is the credential."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from tollgate.billing.context import BillingDep
from tollgate.billing.metrics import WEBHOOK_LAG
from tollgate.billing.webhooks import service, signature
from tollgate.shared.db import SessionDep
from tollgate.shared.errors import PayloadTooLarge
from tollgate.shared.openapi import problems

# A missing, stale or wrong Stripe signature (400), a body over the limit (413).
router = APIRouter(tags=["webhooks"], responses=problems(400, 413))

# Stripe's events are a few kB; a megabyte is far beyond any real one.
MAX_BODY = 1_000_000


@router.post("/api/billing/webhooks/stripe")
async def stripe_webhook(
    request: Request, session: SessionDep, billing: BillingDep
) -> dict[str, str]:
    """Receive a Stripe event: verified, applied at most once, answered when committed."""
    payload = await request.body()
    if len(payload) > MAX_BODY:
        raise PayloadTooLarge()
    settings = billing.settings
    now = time.time()
    signature.verify(
        payload,
        request.headers.get("stripe-signature"),
        settings.webhook_secrets,
        tolerance=settings.stripe_webhook_tolerance_seconds,
        now=now,
    )
    event = signature.parse_event(payload)
    WEBHOOK_LAG.observe(max(0.0, now - event["created"]))
    outcome = await service.apply_event(session, billing.stripe, event, source="webhook")
    return {"received": "true", "outcome": outcome}
