"""A small stateful Stripe for tests and development: the REST endpoints billing uses.

It speaks Stripe's wire format (form-encoded bracket params in, JSON out, Stripe's
error shape), honours ``Idempotency-Key``, keeps customers, prices, checkout
sessions (subscription and one-time payment), subscriptions, invoices, payment
intents (off-session ones too), charges and refunds, records an event for
every change, and delivers those events as signed webhooks when a test asks.
Tests drive time and payment outcomes through its helper methods.

Trials, yearly prices and promotion codes are modelled as Stripe has them: a
Checkout with ``subscription_data[trial_period_days]`` starts a ``trialing``
subscription with a paid $0 invoice; ending the trial (``end_trial``, the control
route below, or ``trial_end=now`` through the API, as with Stripe's test clocks)
charges the saved card and continues, or, without a card, cancels or pauses as
``trial_settings[end_behavior][missing_payment_method]`` says. A price whose
interval is ``year`` bills a year at once. A promotion code (``add_promotion_code``)
entered on the Checkout page discounts the first paid invoice (``once``) or every
one (``forever``); invoices carry ``subtotal``, ``total_discount_amounts`` and
``discounts`` (expanded with ``expand[]=discounts.promotion_code``).

Control routes for development and end-to-end tests (not Stripe's)::

    GET  /c/pay/{session}?card=no&promotion_code=CODE   pay on the Checkout page
    POST /_standin/subscriptions/{id}/end_trial         end a trial now
    POST /_standin/promotion_codes  {"code", "percent_off" | "amount_off", "duration"}

For development, run it next to billing (it delivers webhooks on its own, and
opening a Checkout URL counts as paying)::

    python -m tollgate.standins.stripe --port 12111 \
        --webhook-url http://127.0.0.1:8002/api/billing/webhooks/stripe --secret whsec_dev

and start billing with ``BILLING_STRIPE_API_BASE=http://127.0.0.1:12111``,
``BILLING_STRIPE_WEBHOOK_SECRETS=whsec_dev``, ``BILLING_STRIPE_PRICE_PRO=price_pro``
and ``BILLING_STRIPE_PRICE_ENTERPRISE=price_enterprise``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import hashlib
import hmac
import itertools
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

from tollgate.billing.subscriptions.domain import add_month
from tollgate.shared.testing import free_port

Deliver = Callable[[bytes, dict[str, str]], Awaitable[int]]


class StripeFailure(Exception):
    def __init__(self, status: int, type_: str, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.type, self.message, self.code = status, type_, message, code


def decode_form(body: str) -> dict[str, Any]:
    """``items[0][price]=p&metadata[k]=v`` -> ``{"items": [{"price": "p"}], "metadata": {...}}``."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    decoded: dict[str, Any] = _listify(root)
    return decoded


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_listify(node[k]) for k in sorted(node, key=int)]
    return {k: _listify(v) for k, v in node.items()}


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class StripeStandIn:
    def __init__(
        self, prices: dict[str, tuple[int, str] | tuple[int, str, str]], webhook_secret: str
    ) -> None:
        # price id -> (unit amount in cents, currency[, interval: month (default) or year])
        self.prices = {
            pid: {
                "id": pid,
                "object": "price",
                "unit_amount": spec[0],
                "currency": spec[1],
                "recurring": {
                    "interval": spec[2] if len(spec) > 2 else "month",
                    "interval_count": 1,
                },
            }
            for pid, spec in prices.items()
        }
        self.webhook_secret = webhook_secret
        self.customers: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []
        self.declining: set[str] = set()  # customers whose card is declined
        self.cards: set[str] = set()  # customers with a saved payment method
        self.promotion_codes: dict[str, dict[str, Any]] = {}  # by code
        self.discounts: dict[str, dict[str, Any]] = {}  # by subscription id
        # Customers whose one-time payments stay ``processing`` until ``settle_payment``.
        self.slow_payments: set[str] = set()
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.idempotent: dict[str, tuple[int, dict[str, Any]]] = {}
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.clock: int | None = None
        self.deliver: Deliver | None = None
        self._ids = itertools.count(1)
        self._run = secrets.token_hex(4)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # running

    async def start(self, port: int | None = None, host: str = "127.0.0.1") -> str:
        app = web.Application()
        app.router.add_route("*", "/v1/{path:.*}", self._dispatch)
        app.router.add_get("/c/pay/{session_id}", self._pay_page)
        app.router.add_get("/p/{session_id}", self._portal_page)
        app.router.add_post("/_standin/subscriptions/{sid}/end_trial", self._end_trial_route)
        app.router.add_post("/_standin/promotion_codes", self._promotion_code_route)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        port = port or free_port()
        await web.TCPSite(self._runner, host, port).start()
        self.url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"
        return self.url

    async def _pay_page(self, request: web.Request) -> web.Response:
        """Opening a Checkout URL pays for it (development only), then goes to success_url.

        ``?card=no`` starts a trial without giving a card; ``?promotion_code=CODE`` is the
        code the person types on the page.
        """
        session = self.sessions.get(request.match_info["session_id"])
        if session is None:
            return web.Response(status=404, text="No such checkout session")
        if session["status"] == "open":
            card = request.query.get("card")
            try:
                self.complete_checkout(
                    session["id"],
                    card=None if card is None else card not in ("no", "0", "false"),
                    promotion_code=request.query.get("promotion_code"),
                )
            except StripeFailure as exc:
                return web.Response(status=400, text=exc.message)
        raise web.HTTPFound(session.get("success_url") or "/")

    async def _end_trial_route(self, request: web.Request) -> web.Response:
        try:
            return web.json_response(self.end_trial(request.match_info["sid"]))
        except StripeFailure as exc:
            return web.json_response({"error": {"message": exc.message}}, status=exc.status)

    async def _promotion_code_route(self, request: web.Request) -> web.Response:
        body = await request.json()
        promotion = self.add_promotion_code(
            str(body["code"]),
            percent_off=body.get("percent_off"),
            amount_off=body.get("amount_off"),
            duration=str(body.get("duration", "once")),
        )
        return web.json_response(promotion)

    async def _portal_page(self, _request: web.Request) -> web.Response:
        return web.Response(text="Stripe stand-in: the customer portal would be here.")

    def deliver_to(self, webhook_url: str) -> None:
        """Deliver webhooks over HTTP to ``webhook_url``, as Stripe does."""

        async def post(payload: bytes, headers: dict[str, str]) -> int:
            async with (
                aiohttp.ClientSession() as http,
                http.post(webhook_url, data=payload, headers=headers) as response,
            ):
                return response.status

        self.deliver = post

    async def deliver_forever(self, interval: float = 0.2) -> None:
        """Send pending events in order; a failed delivery is retried, like Stripe's."""
        while True:
            while self.pending:
                try:
                    status = await self.send(self.pending[0])
                except aiohttp.ClientError:
                    status = 0
                if status >= 300 or status == 0:
                    break
                self.pending.pop(0)
            await asyncio.sleep(interval)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def now(self) -> int:
        return self.clock if self.clock is not None else int(time.time())

    def new_id(self, prefix: str) -> str:
        # A run prefix keeps ids unique across restarts, as Stripe's are.
        return f"{prefix}_{self._run}{next(self._ids):06d}"

    async def _dispatch(self, request: web.Request) -> web.Response:
        body = await request.text()
        params = decode_form(body) if body else decode_form(request.query_string)
        method, path = request.method, request.match_info["path"]
        self.requests.append((method, path, params))
        key = request.headers.get("Idempotency-Key")
        if method == "POST" and key and key in self.idempotent:
            status, payload = self.idempotent[key]
            return web.json_response(
                payload, status=status, headers={"Idempotent-Replayed": "true"}
            )
        try:
            status, payload = 200, self._route(method, path.strip("/").split("/"), params)
        except StripeFailure as exc:
            status = exc.status
            payload = {"error": {"type": exc.type, "message": exc.message, "code": exc.code}}
        if method == "POST" and key:
            self.idempotent[key] = (status, payload)
        return web.json_response(payload, status=status)

    def _route(self, method: str, parts: list[str], p: dict[str, Any]) -> dict[str, Any]:
        match method, parts:
            case "POST", ["customers"]:
                return self.create_customer(p)
            case "GET", ["customers", cid]:
                return self._get(self.customers, cid)
            case "POST", ["customers", cid]:
                customer = self._get(self.customers, cid)
                customer.update({k: v for k, v in p.items() if k in ("email", "name")})
                if "invoice_settings" in p:
                    customer["invoice_settings"].update(p["invoice_settings"])
                return customer
            case "DELETE", ["customers", cid]:
                return self.delete_customer(cid)
            case "POST", ["checkout", "sessions"]:
                return self.create_checkout_session(p)
            case "GET", ["checkout", "sessions", sid]:
                return self._public(self._get(self.sessions, sid))
            case "POST", ["billing_portal", "sessions"]:
                self._get(self.customers, p.get("customer", ""))
                sid = self.new_id("bps")
                return {
                    "id": sid,
                    "object": "billing_portal.session",
                    "url": f"{self.url}/p/{sid}",
                    "customer": p["customer"],
                    "return_url": p.get("return_url"),
                }
            case "POST", ["subscriptions"]:
                return self.create_subscription_api(p)
            case "GET", ["subscriptions", sid]:
                return self._get(self.subscriptions, sid)
            case "POST", ["subscriptions", sid]:
                return self.update_subscription(sid, p)
            case "DELETE", ["subscriptions", sid]:
                return self.cancel_now(sid)
            case "GET", ["invoices", iid]:
                return self._invoice_view(self._get(self.invoices, iid), p.get("expand") or [])
            case "GET", ["charges", chid]:
                return self._get(self.charges, chid)
            case "POST", ["payment_intents"]:
                return self.create_payment_intent(p)
            case "GET", ["payment_intents", piid]:
                return self._get(self.payment_intents, piid)
            case "POST", ["refunds"]:
                return self.create_refund(p)
            case "GET", ["events"]:
                return self.list_events(p)
        raise StripeFailure(404, "invalid_request_error", f"Unrecognized request URL {parts}")

    def _get(self, table: dict[str, dict[str, Any]], oid: str) -> dict[str, Any]:
        if oid not in table:
            raise StripeFailure(
                404, "invalid_request_error", f"No such object: '{oid}'", "resource_missing"
            )
        return table[oid]

    # events and webhooks

    def emit(self, type_: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> None:
        event = {
            "id": self.new_id("evt"),
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": self.now(),
            "livemode": False,
            "type": type_,
            "data": {"object": copy.deepcopy(obj), "previous_attributes": previous or {}},
            "pending_webhooks": 1,
        }
        self.events.append(event)
        self.pending.append(event)

    def take_pending(self, *types: str) -> list[dict[str, Any]]:
        """Remove and return the undelivered events (only those of ``types``, if given)."""
        taken = [e for e in self.pending if not types or e["type"] in types]
        self.pending = [e for e in self.pending if e not in taken]
        return taken

    def signed(
        self, event: dict[str, Any], *, secret: str | None = None, timestamp: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        payload = json.dumps(event).encode()
        header = sign(payload, secret or self.webhook_secret, timestamp or int(time.time()))
        return payload, {"Stripe-Signature": header, "Content-Type": "application/json"}

    async def send(self, event: dict[str, Any]) -> int:
        assert self.deliver is not None, "set StripeStandIn.deliver first"
        payload, headers = self.signed(event)
        return await self.deliver(payload, headers)

    async def deliver_pending(self) -> list[int]:
        statuses = []
        while self.pending:
            statuses.append(await self.send(self.pending.pop(0)))
        return statuses

    def list_events(self, p: dict[str, Any]) -> dict[str, Any]:
        gte = int((p.get("created") or {}).get("gte", 0))
        limit = int(p.get("limit", 10))
        newest_first = [e for e in reversed(self.events) if e["created"] >= gte]
        if p.get("starting_after"):
            ids = [e["id"] for e in newest_first]
            newest_first = newest_first[ids.index(p["starting_after"]) + 1 :]
        page = newest_first[:limit]
        return {
            "object": "list",
            "data": page,
            "has_more": len(newest_first) > limit,
            "url": "/v1/events",
        }

    # customers

    def create_customer(self, p: dict[str, Any]) -> dict[str, Any]:
        cid = self.new_id("cus")
        customer = {
            "id": cid,
            "object": "customer",
            "email": p.get("email"),
            "name": p.get("name"),
            "metadata": p.get("metadata") or {},
            "invoice_settings": {"default_payment_method": None},
            "created": self.now(),
        }
        self.customers[cid] = customer
        self.emit("customer.created", customer)
        return customer

    def delete_customer(self, cid: str) -> dict[str, Any]:
        customer = self.customers.pop(cid, None)
        if customer is None:
            raise StripeFailure(
                404, "invalid_request_error", f"No such customer: '{cid}'", "resource_missing"
            )
        for sub in self.subscriptions.values():
            if sub["customer"] == cid and sub["status"] != "canceled":
                self.cancel_now(sub["id"])
        self.emit("customer.deleted", customer)
        return {"id": cid, "object": "customer", "deleted": True}

    # checkout

    def create_checkout_session(self, p: dict[str, Any]) -> dict[str, Any]:
        self._get(self.customers, p.get("customer", ""))
        for item in p.get("line_items") or []:
            if "price_data" in item and p.get("mode") == "payment":
                continue  # an ad-hoc price, as one-time payments use
            if item.get("price") not in self.prices:
                raise StripeFailure(
                    400,
                    "invalid_request_error",
                    f"No such price: '{item.get('price')}'",
                    "resource_missing",
                )
        sid = self.new_id("cs")
        session = {
            "id": sid,
            "object": "checkout.session",
            "mode": p.get("mode"),
            "status": "open",
            "customer": p["customer"],
            "client_reference_id": p.get("client_reference_id"),
            "metadata": p.get("metadata") or {},
            "subscription": None,
            "payment_intent": None,
            "payment_status": "unpaid",
            "url": f"{self.url}/c/pay/{sid}",
            "success_url": p.get("success_url"),
            "allow_promotion_codes": p.get("allow_promotion_codes") == "true",
            "payment_method_collection": p.get("payment_method_collection", "always"),
            "_line_items": p.get("line_items") or [],
            "_subscription_data": p.get("subscription_data") or {},
            "_payment_intent_data": p.get("payment_intent_data") or {},
        }
        self.sessions[sid] = session
        return self._public(session)

    def complete_checkout(
        self, session_id: str, *, card: bool | None = None, promotion_code: str | None = None
    ) -> str:
        """The customer pays on the Checkout page: a subscription starts, its invoice is paid
        (or, in payment mode, a card is charged once); returns the new object's id.

        ``card``: whether they give a card; by default they do, except for a trial that
        Checkout starts without one (``payment_method_collection=if_required``).
        ``promotion_code``: a code typed on the page (the page must allow codes).
        """
        session = self.sessions[session_id]
        if session["mode"] == "payment":
            return self._complete_payment_checkout(session)
        data = session["_subscription_data"]
        trial_days = int(data.get("trial_period_days") or 0)
        if card is None:
            card = not (trial_days and session["payment_method_collection"] == "if_required")
        discount = None
        if promotion_code is not None:
            if not session["allow_promotion_codes"]:
                raise StripeFailure(400, "invalid_request_error", "This page takes no codes")
            discount = self._discount(promotion_code, session["customer"])
        if card:
            self.cards.add(session["customer"])
        sub = self._new_subscription(
            session["customer"],
            session["_line_items"],
            data.get("metadata") or {},
            trial_days=trial_days,
            trial_settings=data.get("trial_settings") or {},
            discount=discount,
        )
        self._first_invoice(sub)
        session.update(status="complete", subscription=sub["id"])
        self.emit("checkout.session.completed", self._public(session))
        return str(sub["id"])

    def _complete_payment_checkout(self, session: dict[str, Any]) -> str:
        data = session["_payment_intent_data"]
        amount = sum(
            int(i["price_data"]["unit_amount"]) * int(i.get("quantity", 1))
            for i in session["_line_items"]
        )
        currency = session["_line_items"][0]["price_data"]["currency"]
        card = self.new_id("pm")
        intent = self._payment_intent(
            session["customer"], amount, currency, card, data.get("metadata") or {}
        )
        intent["setup_future_usage"] = data.get("setup_future_usage")
        self._succeed(intent)
        session.update(status="complete", payment_intent=intent["id"], payment_status="paid")
        self.emit("checkout.session.completed", self._public(session))
        return str(intent["id"])

    # one-time payments

    def _payment_intent(
        self, customer: str, amount: int, currency: str, card: str | None, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        piid = self.new_id("pi")
        intent = {
            "id": piid,
            "object": "payment_intent",
            "amount": amount,
            "currency": currency,
            "customer": customer,
            "payment_method": card,
            "status": "requires_payment_method",
            "latest_charge": None,
            "last_payment_error": None,
            "setup_future_usage": None,
            "metadata": metadata,
            "created": self.now(),
        }
        self.payment_intents[piid] = intent
        return intent

    def _succeed(self, intent: dict[str, Any]) -> None:
        chid = self.new_id("ch")
        self.charges[chid] = {
            "id": chid,
            "object": "charge",
            "amount": intent["amount"],
            "amount_refunded": 0,
            "currency": intent["currency"],
            "customer": intent["customer"],
            "invoice": None,
            "payment_intent": intent["id"],
            "status": "succeeded",
            "paid": True,
            "refunded": False,
            "created": self.now(),
        }
        intent.update(status="succeeded", latest_charge=chid)
        self.emit("payment_intent.succeeded", intent)

    def create_payment_intent(self, p: dict[str, Any]) -> dict[str, Any]:
        """A one-time payment; with ``confirm`` and a card, charged at once (off-session too)."""
        customer = self._get(self.customers, p.get("customer", ""))["id"]
        amount = int(p.get("amount", 0))
        if amount <= 0:
            raise StripeFailure(400, "invalid_request_error", "Invalid amount", "amount_too_small")
        card = p.get("payment_method")
        intent = self._payment_intent(
            customer, amount, p.get("currency", "usd"), card, p.get("metadata") or {}
        )
        if p.get("confirm") != "true" or not card:
            return intent
        if customer in self.declining:
            error = {"code": "card_declined", "message": "Your card was declined."}
            intent["last_payment_error"] = error
            self.emit("payment_intent.payment_failed", intent)
            raise StripeFailure(402, "card_error", "Your card was declined.", "card_declined")
        if customer in self.slow_payments:
            intent["status"] = "processing"
            return intent
        self._succeed(intent)
        return intent

    def settle_payment(self, payment_intent_id: str, *, succeed: bool = True) -> None:
        """A processing payment ends: charged, or failed (its webhook says which)."""
        intent = self.payment_intents[payment_intent_id]
        if succeed:
            self._succeed(intent)
            return
        intent.update(
            status="requires_payment_method",
            last_payment_error={"code": "card_declined", "message": "Your card was declined."},
        )
        self.emit("payment_intent.payment_failed", intent)

    def expire_checkout(self, session_id: str) -> None:
        """The Checkout page outlives its 24 hours unpaid (or is expired through the API)."""
        session = self.sessions[session_id]
        session.update(status="expired")
        self.emit("checkout.session.expired", self._public(session))

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    # subscriptions

    def _new_subscription(
        self,
        customer: str,
        items: list[dict[str, Any]],
        metadata: dict[str, Any],
        *,
        trial_days: int = 0,
        trial_settings: dict[str, Any] | None = None,
        discount: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        start = self.now()
        trial_end = start + trial_days * 86_400 if trial_days else None
        first_price = self.prices[items[0]["price"]]
        end = trial_end or self._period_end(start, first_price)
        sid = self.new_id("sub")
        sub = {
            "id": sid,
            "object": "subscription",
            "customer": customer,
            "status": "trialing" if trial_end else "active",
            "cancel_at_period_end": False,
            "canceled_at": None,
            "ended_at": None,
            "created": start,
            "metadata": metadata,
            "trial_start": start if trial_end else None,
            "trial_end": trial_end,
            "trial_settings": trial_settings
            or {"end_behavior": {"missing_payment_method": "create_invoice"}},
            "discounts": [discount["id"]] if discount else [],
            "latest_invoice": None,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": self.new_id("si"),
                        "object": "subscription_item",
                        "price": self.prices[item["price"]],
                        "quantity": int(item.get("quantity", 1)),
                        "current_period_start": start,
                        "current_period_end": end,
                    }
                    for item in items
                ],
            },
        }
        self.subscriptions[sid] = sub
        if discount is not None:
            self.discounts[sid] = discount
        self.emit("customer.subscription.created", sub)
        return sub

    @staticmethod
    def _period_end(start: int, price: dict[str, Any]) -> int:
        moment = datetime.fromtimestamp(start, UTC)
        if price["recurring"]["interval"] != "year":
            return int(add_month(moment).timestamp())
        try:
            return int(moment.replace(year=moment.year + 1).timestamp())
        except ValueError:  # 29 February
            return int(moment.replace(year=moment.year + 1, day=28).timestamp())

    def create_subscription_api(self, p: dict[str, Any]) -> dict[str, Any]:
        customer = self._get(self.customers, p.get("customer", ""))["id"]
        if customer in self.declining:
            raise StripeFailure(402, "card_error", "Your card was declined.", "card_declined")
        for item in p.get("items") or []:
            if item.get("price") not in self.prices:
                raise StripeFailure(
                    400, "invalid_request_error", "No such price", "resource_missing"
                )
        if p.get("default_payment_method"):
            self.cards.add(customer)
        sub = self._new_subscription(
            customer,
            p["items"],
            p.get("metadata") or {},
            trial_days=int(p.get("trial_period_days") or 0),
            trial_settings=p.get("trial_settings") or {},
        )
        self._first_invoice(sub)
        return sub

    def update_subscription(self, sid: str, p: dict[str, Any]) -> dict[str, Any]:
        sub = self._get(self.subscriptions, sid)
        if p.get("trial_end") == "now":
            return self.end_trial(sid)
        previous: dict[str, Any] = {}
        if "cancel_at_period_end" in p:
            previous["cancel_at_period_end"] = sub["cancel_at_period_end"]
            sub["cancel_at_period_end"] = p["cancel_at_period_end"] == "true"
        if "metadata" in p:
            sub["metadata"] = {**sub["metadata"], **p["metadata"]}
        for change in p.get("items") or []:
            item = next(i for i in sub["items"]["data"] if i["id"] == change.get("id"))
            old_price = item["price"]
            new_price = self.prices.get(change.get("price", old_price["id"]))
            if new_price is None:
                raise StripeFailure(
                    400, "invalid_request_error", "No such price", "resource_missing"
                )
            previous["items"] = copy.deepcopy(sub["items"])
            item["price"] = new_price
            if p.get("proration_behavior") == "always_invoice":
                self._proration_invoice(sub, item, old_price, new_price)
        self.emit("customer.subscription.updated", sub, previous)
        return sub

    def cancel_now(self, sid: str) -> dict[str, Any]:
        sub = self._get(self.subscriptions, sid)
        sub.update(status="canceled", canceled_at=self.now(), ended_at=self.now())
        self.emit("customer.subscription.deleted", sub)
        return sub

    def renew(self, sid: str) -> dict[str, Any]:
        """The period ends: cancel if asked to, else start the next one and charge for it."""
        sub = self.subscriptions[sid]
        item = sub["items"]["data"][0]
        if sub["cancel_at_period_end"]:
            self.clock = item["current_period_end"]
            return self.cancel_now(sid)
        start = item["current_period_end"]
        item["current_period_start"] = start
        item["current_period_end"] = self._period_end(start, item["price"])
        invoice = self._invoice(
            sub, item["price"]["unit_amount"] * item["quantity"], "subscription_cycle"
        )
        self._collect(sub, invoice)
        return sub

    def end_trial(self, sid: str) -> dict[str, Any]:
        """The trial ends now, as a test clock moved past ``trial_end`` would make it.

        Stripe first says the trial will end; then a saved card pays the first period
        and the subscription goes on (``invoice.paid``, ``customer.subscription.updated``);
        without a card it is cancelled (``customer.subscription.deleted``) or paused, as
        the subscription's ``trial_settings`` say.
        """
        sub = self._get(self.subscriptions, sid)
        if sub["status"] != "trialing":
            raise StripeFailure(400, "invalid_request_error", f"{sid} is not trialing")
        self.emit("customer.subscription.trial_will_end", sub)
        now = self.now()
        previous = {"status": sub["status"], "trial_end": sub["trial_end"]}
        sub["trial_end"] = now
        item = sub["items"]["data"][0]
        if sub["customer"] not in self.cards:
            behavior = sub["trial_settings"]["end_behavior"]["missing_payment_method"]
            if behavior == "cancel":
                return self.cancel_now(sid)
            if behavior == "pause":
                sub["status"] = "paused"
                self.emit("customer.subscription.paused", sub, previous)
                return sub
        item["current_period_start"] = now
        item["current_period_end"] = self._period_end(now, item["price"])
        sub["status"] = "active"
        invoice = self._invoice(
            sub, item["price"]["unit_amount"] * item["quantity"], "subscription_cycle"
        )
        self._collect(sub, invoice, emit_sub_update=False)
        self.emit("customer.subscription.updated", sub, previous)
        return sub

    # promotion codes

    def add_promotion_code(
        self,
        code: str,
        *,
        percent_off: float | None = None,
        amount_off: int | None = None,
        duration: str = "once",
    ) -> dict[str, Any]:
        """A promotion code customers may enter on Checkout pages that allow codes."""
        coupon = {
            "id": self.new_id("co"),
            "object": "coupon",
            "percent_off": percent_off,
            "amount_off": amount_off,
            "duration": duration,
        }
        promotion = {
            "id": self.new_id("promo"),
            "object": "promotion_code",
            "code": code,
            "active": True,
            "coupon": coupon,
        }
        self.promotion_codes[code.upper()] = promotion
        return promotion

    def _discount(self, code: str, customer: str) -> dict[str, Any]:
        promotion = self.promotion_codes.get(code.upper())
        if promotion is None or not promotion["active"]:
            raise StripeFailure(400, "invalid_request_error", "This code is invalid.")
        return {
            "id": self.new_id("di"),
            "object": "discount",
            "customer": customer,
            "coupon": promotion["coupon"],
            "promotion_code": promotion["id"],
            "_used": False,
        }

    def _take_discount(self, sub: dict[str, Any], amount: int) -> tuple[int, dict[str, Any] | None]:
        """What the subscription's discount takes off an invoice of ``amount``."""
        discount = self.discounts.get(sub["id"])
        if discount is None or amount <= 0:
            return 0, None
        coupon = discount["coupon"]
        if coupon["duration"] == "once" and discount["_used"]:
            return 0, None
        discount["_used"] = True
        if coupon.get("amount_off"):
            return min(amount, int(coupon["amount_off"])), discount
        return round(amount * float(coupon.get("percent_off") or 0) / 100), discount

    def _invoice_view(self, invoice: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        """The invoice, its discounts expanded when asked (``discounts.promotion_code``)."""
        if not any(e.startswith("discounts") for e in expand):
            return invoice
        view = dict(invoice)
        view["discounts"] = []
        for discount_id in invoice["discounts"]:
            discount = next(
                self._public(d) for d in self.discounts.values() if d["id"] == discount_id
            )
            if "discounts.promotion_code" in expand:
                promotions = self.promotion_codes.values()
                code = next(p for p in promotions if p["id"] == discount["promotion_code"])
                discount = {**discount, "promotion_code": code}
            view["discounts"].append(discount)
        return view

    def retry_payment(self, invoice_id: str) -> None:
        """Stripe's retry of an open invoice (after the customer fixed their card)."""
        invoice = self.invoices[invoice_id]
        self._collect(self.subscriptions[invoice["subscription"]], invoice)

    # invoices and charges

    def _first_invoice(self, sub: dict[str, Any]) -> None:
        total = sum(i["price"]["unit_amount"] * i["quantity"] for i in sub["items"]["data"])
        if sub["status"] == "trialing":
            total = 0  # the trial's invoice: nothing to pay yet
        invoice = self._invoice(sub, total, "subscription_create")
        self._collect(sub, invoice, emit_sub_update=False)

    def _proration_invoice(
        self, sub: dict[str, Any], item: dict[str, Any], old: dict[str, Any], new: dict[str, Any]
    ) -> None:
        start, end = item["current_period_start"], item["current_period_end"]
        left = max(0.0, (end - self.now()) / max(1, end - start))
        amount = round((new["unit_amount"] - old["unit_amount"]) * item["quantity"] * left)
        if amount > 0:
            invoice = self._invoice(sub, amount, "subscription_update")
            self._collect(sub, invoice, emit_sub_update=False)

    def _invoice(self, sub: dict[str, Any], subtotal: int, reason: str) -> dict[str, Any]:
        item = sub["items"]["data"][0]
        iid = self.new_id("in")
        off, discount = self._take_discount(sub, subtotal)
        amount = subtotal - off
        invoice = {
            "id": iid,
            "object": "invoice",
            "customer": sub["customer"],
            "subscription": sub["id"],
            "billing_reason": reason,
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": sub["id"], "metadata": sub["metadata"]},
            },
            "number": f"TG-{len(self.invoices) + 1:04d}",
            "status": "open",
            "currency": item["price"]["currency"],
            "subtotal": subtotal,
            "total": amount,
            "total_discount_amounts": [{"amount": off, "discount": discount["id"]}]
            if discount
            else [],
            "discounts": [discount["id"]] if discount else [],
            "amount_due": amount,
            "amount_paid": 0,
            "attempt_count": 0,
            "charge": None,
            "created": self.now(),
            "period_start": item["current_period_start"],
            "period_end": item["current_period_end"],
            "hosted_invoice_url": f"{self.url}/i/{iid}",
            "status_transitions": {"finalized_at": self.now(), "paid_at": None},
        }
        self.invoices[iid] = invoice
        sub["latest_invoice"] = iid
        self.emit("invoice.finalized", invoice)
        return invoice

    def _collect(
        self, sub: dict[str, Any], invoice: dict[str, Any], *, emit_sub_update: bool = True
    ) -> None:
        invoice["attempt_count"] += 1
        if invoice["amount_due"] == 0:
            # Nothing to charge (a trial's invoice, or a discount of all of it): paid as is.
            invoice.update(status="paid")
            invoice["status_transitions"]["paid_at"] = self.now()
            self.emit("invoice.paid", invoice)
            return
        declined = sub["customer"] in self.declining
        chid = self.new_id("ch")
        self.charges[chid] = {
            "id": chid,
            "object": "charge",
            "amount": invoice["amount_due"],
            "amount_refunded": 0,
            "currency": invoice["currency"],
            "customer": sub["customer"],
            "invoice": invoice["id"],
            "status": "failed" if declined else "succeeded",
            "paid": not declined,
            "refunded": False,
            "created": self.now(),
        }
        previous = {"status": sub["status"]}
        if declined:
            sub["status"] = "past_due"
            self.emit("invoice.payment_failed", invoice)
        else:
            invoice.update(status="paid", amount_paid=invoice["amount_due"], charge=chid)
            invoice["status_transitions"]["paid_at"] = self.now()
            sub["status"] = "active"
            self.emit("invoice.paid", invoice)
        if emit_sub_update and previous["status"] != sub["status"]:
            self.emit("customer.subscription.updated", sub, previous)

    def create_refund(self, p: dict[str, Any]) -> dict[str, Any]:
        charge = self._get(self.charges, p.get("charge", ""))
        left = charge["amount"] - charge["amount_refunded"]
        amount = int(p.get("amount", left))
        if amount <= 0 or amount > left:
            raise StripeFailure(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount",
                "amount_too_large",
            )
        rid = self.new_id("re")
        refund = {
            "id": rid,
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "currency": charge["currency"],
            "status": "succeeded",
            "reason": p.get("reason"),
            "created": self.now(),
        }
        self.refunds[rid] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self.emit("charge.refunded", charge)
        return refund


async def _serve(args: argparse.Namespace) -> None:
    prices: dict[str, tuple[int, str] | tuple[int, str, str]] = {}
    for spec in args.price:
        price_id, amount, *interval = spec.split(":")
        prices[price_id] = (int(amount), "usd", interval[0] if interval else "month")
    standin = StripeStandIn(prices, args.secret)
    await standin.start(args.port, args.host)
    standin.deliver_to(args.webhook_url)
    print(f"Stripe stand-in on {standin.url}, webhooks to {args.webhook_url}", flush=True)
    try:
        await standin.deliver_forever()
    finally:
        await standin.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="A local Stripe stand-in for development.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument(
        "--webhook-url", default="http://127.0.0.1:8002/api/billing/webhooks/stripe"
    )
    parser.add_argument("--secret", default="whsec_dev")
    parser.add_argument(
        "--price",
        action="append",
        default=None,
        help="price_id:amount_in_cents[:year] (repeatable)",
    )
    args = parser.parse_args()
    args.price = args.price or [
        "price_pro:2000",
        "price_enterprise:10000",
        "price_pro_yearly:20000:year",
        "price_enterprise_yearly:100000:year",
    ]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
