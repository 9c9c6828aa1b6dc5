"""Writing the checked records through the services, one whole account at a time.

Order: each person with their subscription, balance and grants (parents before
their sub-users); then each organization with its members, subscription,
balance and grants; then past usage in batches; then invoices and payments.
Every call is idempotent by source id, so a run that was killed is resumed by
running it again: what is in answers 200 (counted as "already in").
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.progress import Progress

from tollgate.importer.client import Refused, ServiceClient
from tollgate.importer.records import (
    Balance,
    Extract,
    Grant,
    Organization,
    Person,
    Ref,
    Subscription,
    Usage,
)
from tollgate.importer.report import Report

__all__ = ["USAGE_BATCH", "Writer", "kind_of"]

USAGE_BATCH = 1000
USAGE_BATCHES_IN_FLIGHT = 3
GRANTING_STATUSES = frozenset({"active", "trialing", "past_due"})

PEOPLE = {"users", "company_users", "users_login"}
ORGANIZATIONS = {"organizations", "company"}
USAGE = {"token_usage", "model_usage", "translation_transactions", "user_transactions"}


def kind_of(ref: Ref) -> str:
    """Which kind of record a refused row was, for the summary's counts."""
    part = ref.id.rpartition("#")[2] if "#" in ref.id else None
    if part is not None:
        return {"plan": "subscriptions", "balance": "balances"}.get(part, "grants")
    if ref.collection in PEOPLE:
        return "people"
    if ref.collection in ORGANIZATIONS:
        return "organizations"
    if ref.collection in USAGE:
        return "usage"
    if ref.collection == "credit_transactions":
        return "grants"
    return ref.collection


class Writer:
    def __init__(self, client: ServiceClient, report: Report, progress: Progress) -> None:
        self.client = client
        self.report = report
        self.progress = progress
        self.ids: dict[Ref, str] = {}
        self.people: dict[Ref, Person] = {}
        self.orgs: set[Ref] = set()

    async def write(self, extract: Extract) -> None:
        self.people = {p.ref: p for p in extract.people}
        self.orgs = {o.ref for o in extract.organizations}
        plans = _by_owner(extract.subscriptions)
        balances = _by_owner(extract.balances)
        grants: dict[Ref, list[Grant]] = {}
        for grant in extract.grants:
            grants.setdefault(grant.owner, []).append(grant)
        # Parents first: a sub-user names its parent by the id the parent's import returned.
        people = sorted(extract.people, key=lambda p: p.parent is not None)
        with self._bar("people", len(people)) as advance:
            for person in people:
                if await self._person(person):
                    await self._account(person.ref, plans, balances, grants)
                advance()
        with self._bar("organizations", len(extract.organizations)) as advance:
            for org in extract.organizations:
                if await self._organization(org):
                    await self._account(org.ref, plans, balances, grants)
                advance()
        await self._usage(extract.usage)
        invoice_ids = await self._history("invoices", extract.invoices, self._invoice_body)
        self.ids.update(invoice_ids)
        await self._history("payments", extract.payments, self._payment_body)

    @contextmanager
    def _bar(self, kind: str, total: int) -> Iterator[Any]:
        task = self.progress.add_task(kind, total=total)
        self.report.start(kind)
        try:
            yield lambda n=1: self.progress.advance(task, n)
        finally:
            self.report.stop(kind)

    async def _send(
        self, kind: str, ref: Ref, url: str, body: dict[str, Any], method: str = "POST"
    ) -> Any:
        """One import call; None (and a refusal in the report) when the service says no."""
        try:
            status, answer = await self.client.call(method, url, body)
        except Refused as exc:
            self.report.refuse(kind, ref, exc.detail)
            return None
        if status == 201:
            self.report.imported(kind)
        else:
            self.report.skipped(kind)
        return answer

    def _depends(self, kind: str, ref: Ref, owners: list[Ref | None]) -> bool:
        """Whether every row this one needs was written; if not, it is refused with them."""
        for owner in owners:
            if owner is not None and owner not in self.ids:
                self.report.refuse(kind, ref, f"depends on refused {owner}", owner)
                return False
        return True

    async def _person(self, person: Person) -> bool:
        if not self._depends("people", person.ref, [person.parent]):
            return False
        body: dict[str, Any] = {
            "source": person.ref.api_source,
            "source_id": person.ref.id,
            "email": person.email,
            "name": person.name,
            "role": person.role,
            "email_verified": person.verified,
            "is_active": person.active,
            "created_at": _iso(person.created_at),
            "password_hash": person.password_hash,
        }
        if person.parent is not None:
            body |= {
                "parent_id": self.ids[person.parent],
                "permissions": person.permissions,
                "token_limit": person.token_limit,
            }
        answer = await self._send(
            "people", person.ref, f"{self.client.services.auth}/api/admin/imports/users", body
        )
        if answer is None:
            return False
        self.ids[person.ref] = str(answer["id"])
        return True

    async def _organization(self, org: Organization) -> bool:
        answer = await self._send(
            "organizations",
            org.ref,
            f"{self.client.services.auth}/api/admin/imports/organizations",
            {
                "source": org.ref.api_source,
                "source_id": org.ref.id,
                "name": org.name,
                "created_at": _iso(org.created_at),
            },
        )
        if answer is None:
            return False
        org_id = str(answer["id"])
        self.ids[org.ref] = org_id
        for member, role in org.members:
            ref = Ref(org.ref.source, "memberships", f"{org.ref.id}:{member.id}")
            if self._depends("memberships", ref, [member]):
                await self._send(
                    "memberships",
                    ref,
                    f"{self.client.services.auth}/api/admin/imports/organizations/{org_id}"
                    f"/members/{self.ids[member]}",
                    {"role": role},
                    method="PUT",
                )
        return True

    async def _account(
        self,
        owner: Ref,
        plans: dict[Ref, list[Subscription]],
        balances: dict[Ref, list[Balance]],
        grants: dict[Ref, list[Grant]],
    ) -> None:
        """The account's subscription, then what it had left, then its grants."""
        allocation = 0
        for sub in plans.get(owner, []):
            if not self._depends("subscriptions", sub.ref, [sub.payer]):
                return
            answer = await self._send(
                "subscriptions",
                sub.ref,
                f"{self.client.services.billing}/api/admin/imports/subscriptions",
                self._subscription_body(sub),
            )
            if answer is None:
                return
            if answer["status"] in GRANTING_STATUSES:
                allocation = int(answer["monthly_tokens"])
        kind = "org" if owner in self.orgs else "user"
        for balance in balances.get(owner, []):
            await self._send(
                "balances",
                balance.ref,
                f"{self.client.services.usage}/api/admin/imports/balances",
                {
                    "source": balance.ref.api_source,
                    "source_id": balance.ref.id,
                    "account_id": self.ids[owner],
                    "kind": kind,
                    "period_start": _iso(balance.period_start),
                    "period_end": _iso(balance.period_end),
                    "allocation": allocation,
                    "remaining": balance.remaining,
                },
            )
        for grant in grants.get(owner, []):
            await self._send(
                "grants",
                grant.ref,
                f"{self.client.services.usage}/api/admin/imports/grants",
                {
                    "source": grant.ref.api_source,
                    "source_id": grant.ref.id,
                    "account_id": self.ids[owner],
                    "kind": kind,
                    "amount": grant.amount,
                    "grant_source": grant.source,
                    "starts_at": _iso(grant.starts_at),
                    "expires_at": _iso(grant.expires_at),
                },
            )

    def _subscription_body(self, sub: Subscription) -> dict[str, Any]:
        is_org = sub.owner in self.orgs
        payer = sub.payer if is_org else sub.owner
        person = self.people.get(payer) if payer is not None else None
        assert payer is not None, "checks give every organization's plan a payer"
        return {
            "source": sub.ref.api_source,
            "source_id": sub.ref.id,
            "account_id": self.ids[sub.owner],
            "user_id": self.ids[payer],
            "org_id": self.ids[sub.owner] if is_org else None,
            "email": person.email if person else None,
            "name": person.name if person else None,
            "plan": sub.plan,
            "status": sub.status,
            "current_period_start": _iso(sub.period_start),
            "current_period_end": _iso(sub.period_end),
            "cancel_at_period_end": sub.cancel_at_period_end,
            "stripe_customer_id": sub.stripe_customer_id,
            "stripe_subscription_id": sub.stripe_subscription_id,
        }

    async def _usage(self, rows: list[Usage]) -> None:
        with self._bar("usage", len(rows)) as advance:
            by_source: dict[str, list[Usage]] = {}
            for row in rows:
                if self._depends("usage", row.ref, [row.user, row.account]):
                    by_source.setdefault(row.ref.api_source, []).append(row)
                else:
                    advance()
            # A few batches in flight: the importer builds the next while usage writes one.
            # Rows are disjoint and the rollup is updated in key order, so they never deadlock.
            room = asyncio.Semaphore(USAGE_BATCHES_IN_FLIGHT)

            async def send(source: str, batch: list[Usage]) -> None:
                async with room:
                    await self._usage_batch(source, batch)
                    advance(len(batch))

            await asyncio.gather(
                *(
                    send(source, items[i : i + USAGE_BATCH])
                    for source, items in by_source.items()
                    for i in range(0, len(items), USAGE_BATCH)
                )
            )

    async def _usage_batch(self, source: str, batch: list[Usage]) -> None:
        body = {"source": source, "records": [self._usage_body(u) for u in batch]}
        try:
            _, answer = await self.client.call(
                "POST", f"{self.client.services.usage}/api/admin/imports/usage", body
            )
        except Refused as exc:
            for row in batch:
                self.report.refuse("usage", row.ref, exc.detail)
            return
        self.report.imported("usage", int(answer["imported"]))
        self.report.skipped("usage", int(answer["skipped"]))

    def _usage_body(self, row: Usage) -> dict[str, Any]:
        user = self.people[row.user]
        # Who paid: the organization the row names, else a sub-user's parent, else the user.
        payer = row.account or user.parent or row.user
        return {
            "source_id": row.ref.id,
            "account_id": self.ids[payer],
            "user_id": self.ids[row.user],
            "model": row.model,
            "provider": row.provider,
            "feature": row.feature,
            "status": row.status,
            "prompt_tokens": row.prompt_tokens,
            "completion_tokens": row.completion_tokens,
            "total_tokens": row.total_tokens,
            "cost_usd": str(row.cost_usd),
            "started_at": _iso(row.started_at),
        }

    async def _history(self, kind: str, rows: list[Any], body_of: Any) -> dict[Ref, str]:
        written: dict[Ref, str] = {}
        path = f"{self.client.services.billing}/api/admin/imports/{kind}"
        with self._bar(kind, len(rows)) as advance:
            for row in rows:
                if self._depends(kind, row.ref, [row.owner]):
                    answer = await self._send(kind, row.ref, path, body_of(row))
                    if answer is not None:
                        written[row.ref] = str(answer["id"])
                advance()
        return written

    def _invoice_body(self, invoice: Any) -> dict[str, Any]:
        return {
            "source": invoice.ref.api_source,
            "source_id": invoice.ref.id,
            "account_id": self.ids[invoice.owner],
            "number": invoice.number,
            "status": invoice.status,
            "currency": invoice.currency,
            "amount_due": invoice.amount_due,
            "amount_paid": invoice.amount_paid,
            "created": _iso(invoice.created),
            "paid_at": _iso(invoice.paid_at),
            "period_start": _iso(invoice.period_start),
            "period_end": _iso(invoice.period_end),
        }

    def _payment_body(self, payment: Any) -> dict[str, Any]:
        return {
            "source": payment.ref.api_source,
            "source_id": payment.ref.id,
            "account_id": self.ids[payment.owner],
            "invoice_id": self.ids.get(payment.invoice) if payment.invoice else None,
            "status": payment.status,
            "currency": payment.currency,
            "amount": payment.amount,
            "amount_refunded": payment.amount_refunded,
            "created": _iso(payment.created),
        }


def _by_owner(rows: list[Any]) -> dict[Ref, list[Any]]:
    found: dict[Ref, list[Any]] = {}
    for row in rows:
        found.setdefault(row.owner, []).append(row)
    return found


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None
