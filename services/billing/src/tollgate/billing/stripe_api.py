"""The calls billing makes to Stripe, through the official SDK, as plain dicts.

Every call goes through ``StripeApi`` so the API base can point at a local
stand-in, and so a Stripe outage becomes one clear 503 instead of a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import stripe

from tollgate.shared.errors import BadRequest, ServiceUnavailable

__all__ = ["StripeApi", "StripeObjectDict"]

log = logging.getLogger("tollgate.billing.stripe")

StripeObjectDict = dict[str, Any]


def _plain(obj: Any) -> StripeObjectDict:
    # StripeObject is no longer a dict in SDK 16; the rest of billing works on plain dicts.
    result: StripeObjectDict = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
    return result


def _options(idempotency_key: str | None) -> Any:
    return {"idempotency_key": idempotency_key} if idempotency_key else None


class StripeApi:
    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        timeout: float = 10.0,
        max_network_retries: int = 2,
    ) -> None:
        base: Any = {"api": api_base.rstrip("/")} if api_base else None
        # aiohttp: the fastest async client here, and it sends bodies the way servers expect.
        self._http = stripe.AIOHTTPClient(timeout=aiohttp.ClientTimeout(total=timeout))
        self.client = stripe.StripeClient(
            api_key,
            base_addresses=base,
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def _call(self, what: str, coro: Any) -> StripeObjectDict:
        try:
            return _plain(await coro)
        except stripe.InvalidRequestError as exc:
            log.warning("Stripe refused %s: %s", what, exc.user_message or exc)
            raise BadRequest(
                f"Stripe refused to {what}: {exc.user_message or 'invalid request'}",
                type_slug="stripe-rejected",
            ) from exc
        except stripe.CardError as exc:
            raise BadRequest(
                f"The card was declined: {exc.user_message or 'declined'}",
                type_slug="card-declined",
            ) from exc
        except stripe.StripeError as exc:
            log.error("Stripe call %s failed: %s", what, exc)
            raise ServiceUnavailable(
                "The payment provider is unavailable; try again shortly",
                type_slug="payment-provider-unavailable",
            ) from exc

    # customers

    async def create_customer(
        self, *, email: str, name: str | None, user_id: str, idempotency_key: str
    ) -> StripeObjectDict:
        params: Any = {"email": email, "metadata": {"tollgate_user_id": user_id}}
        if name:
            params["name"] = name
        return await self._call(
            "create a customer",
            self.client.v1.customers.create_async(params, _options(idempotency_key)),
        )

    async def update_customer(self, customer_id: str, params: Any) -> StripeObjectDict:
        return await self._call(
            "update a customer", self.client.v1.customers.update_async(customer_id, params)
        )

    async def get_customer(self, customer_id: str) -> StripeObjectDict:
        return await self._call(
            "read a customer", self.client.v1.customers.retrieve_async(customer_id)
        )

    async def delete_customer(self, customer_id: str) -> StripeObjectDict:
        return await self._call(
            "delete a customer", self.client.v1.customers.delete_async(customer_id)
        )

    # checkout and portal

    async def create_checkout_session(
        self, params: Any, idempotency_key: str | None = None
    ) -> StripeObjectDict:
        return await self._call(
            "start a checkout",
            self.client.v1.checkout.sessions.create_async(params, _options(idempotency_key)),
        )

    async def get_checkout_session(self, session_id: str) -> StripeObjectDict:
        return await self._call(
            "read a checkout", self.client.v1.checkout.sessions.retrieve_async(session_id)
        )

    async def create_portal_session(self, customer_id: str, return_url: str) -> StripeObjectDict:
        return await self._call(
            "open the billing portal",
            self.client.v1.billing_portal.sessions.create_async(
                {"customer": customer_id, "return_url": return_url}
            ),
        )

    # one-time payments (credit packs)

    async def create_payment_intent(self, params: Any, idempotency_key: str) -> StripeObjectDict:
        return await self._call(
            "take a payment",
            self.client.v1.payment_intents.create_async(params, _options(idempotency_key)),
        )

    async def get_payment_intent(self, payment_intent_id: str) -> StripeObjectDict:
        return await self._call(
            "read a payment",
            self.client.v1.payment_intents.retrieve_async(payment_intent_id),
        )

    # subscriptions

    async def create_subscription(
        self, params: Any, idempotency_key: str | None = None
    ) -> StripeObjectDict:
        return await self._call(
            "create a subscription",
            self.client.v1.subscriptions.create_async(params, _options(idempotency_key)),
        )

    async def get_subscription(self, subscription_id: str) -> StripeObjectDict:
        return await self._call(
            "read a subscription", self.client.v1.subscriptions.retrieve_async(subscription_id)
        )

    async def update_subscription(
        self, subscription_id: str, params: Any, idempotency_key: str | None = None
    ) -> StripeObjectDict:
        return await self._call(
            "change a subscription",
            self.client.v1.subscriptions.update_async(
                subscription_id, params, _options(idempotency_key)
            ),
        )

    async def cancel_subscription(self, subscription_id: str) -> StripeObjectDict:
        return await self._call(
            "cancel a subscription", self.client.v1.subscriptions.cancel_async(subscription_id)
        )

    # invoices, charges, refunds, events

    async def get_invoice(self, invoice_id: str) -> StripeObjectDict:
        # With its discounts' promotion codes, so the invoice can say which code was used.
        params: Any = {"expand": ["discounts.promotion_code"]}
        return await self._call(
            "read an invoice", self.client.v1.invoices.retrieve_async(invoice_id, params)
        )

    async def get_charge(self, charge_id: str) -> StripeObjectDict:
        return await self._call("read a charge", self.client.v1.charges.retrieve_async(charge_id))

    async def create_refund(
        self, *, charge_id: str, amount: int, reason: str | None, idempotency_key: str
    ) -> StripeObjectDict:
        params: Any = {"charge": charge_id, "amount": amount}
        if reason:
            params["reason"] = reason
        return await self._call(
            "refund a payment",
            self.client.v1.refunds.create_async(params, _options(idempotency_key)),
        )

    async def list_events(
        self, *, created_gte: int, starting_after: str | None = None, limit: int = 100
    ) -> StripeObjectDict:
        params: Any = {"created": {"gte": created_gte}, "limit": limit}
        if starting_after:
            params["starting_after"] = starting_after
        return await self._call("list events", self.client.v1.events.list_async(params))
