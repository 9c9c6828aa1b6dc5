"""A MongoDB translation service with company subscriptions counted in units.

Collections: ``company``; people in ``company_users`` (company accounts with bcrypt
hashes), ``users`` (individuals, or company users without a password) and
``users_login`` (individuals' bcrypt hashes, joined to ``users`` by email);
``subscriptions`` (one per company, by ``company_name``: units per period, usage
periods, promotional units); ``translation_transactions`` (company jobs) and
``user_transactions`` (individual jobs paid through Square); ``payments`` and
``invoices`` of companies. Units become tokens at the mapping's ``tokens_per_unit``;
a plan is named ``<unit>-<units per period>`` in the mapping's ``plans``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tollgate.importer.mapping import Mapping
from tollgate.importer.readers import Export, Row
from tollgate.importer.records import (
    Balance,
    Extract,
    Grant,
    Invoice,
    Organization,
    Payment,
    Person,
    Ref,
    Subscription,
    Usage,
)
from tollgate.importer.shapes.reading import each, plan_named, rows
from tollgate.importer.shapes.values import (
    BadValue,
    cents,
    email,
    ident,
    maybe_moment,
    moment,
    number,
    password_hash,
    period_ending,
    text,
    whole,
)

SUBSCRIPTION_STATUS = {"active": "active", "inactive": "canceled", "expired": "canceled"}
PAYMENT_STATUS = {
    "COMPLETED": "succeeded",
    "APPROVED": "pending",
    "PENDING": "pending",
    "FAILED": "failed",
    "CANCELED": "failed",
    "REFUNDED": "refunded",
}
INVOICE_STATUS = {"sent": "open", "overdue": "open", "paid": "paid", "cancelled": "void"}


class Directory:
    """Who is who across collections: people by email, companies by every key they have."""

    def __init__(self) -> None:
        self.people: dict[str, Ref] = {}
        self.by_object_id: dict[str, Ref] = {}
        self.by_company_id: dict[str, Ref] = {}
        self.by_name: dict[str, Ref] = {}

    def person(self, address: Any) -> Ref:
        found = self.people.get(email(address))
        if found is None:
            raise BadValue(f"dangling reference: no user with email {address!r}")
        return found

    def company(self, table: dict[str, Ref], key: Any, what: str) -> Ref:
        found = table.get(str(key)) if key is not None else None
        if found is None:
            raise BadValue(f"dangling reference: no company with {what} {key!r}")
        return found


def extract(mapping: Mapping, export: Export) -> Extract:
    out = Extract()
    now = datetime.now(UTC)
    known = Directory()
    orgs: dict[Ref, Organization] = {}

    def company(ref: Ref, row: Row) -> None:
        name = text(row.get("company_name"))
        if name is None:
            raise BadValue("company without a company_name")
        org = Organization(ref, name, maybe_moment(row.get("created_at"), "created_at"))
        orgs[ref] = org
        out.organizations.append(org)
        known.by_object_id[ref.id] = ref
        known.by_name[name] = ref
        if row.get("company_id"):
            known.by_company_id[str(row["company_id"])] = ref

    each(rows(mapping, export, "company", out), out, company)
    logins = _logins(mapping, export, out)

    def member(ref: Ref, row: Row) -> None:
        person = _person(mapping, ref, row)
        company_ref = None
        if row.get("company_id") is not None:
            company_ref = known.company(known.by_object_id, ident(row["company_id"]), "_id")
        if person.password_hash is None and person.email in logins:
            _, login_hash = logins.pop(person.email)
            person.password_hash = login_hash
        out.people.append(person)
        known.people.setdefault(person.email, ref)
        if company_ref is not None:
            admin = text(row.get("permission_level")) == "admin"
            orgs[company_ref].members.append((ref, "admin" if admin else "member"))

    each(rows(mapping, export, "company_users", out), out, member)
    each(rows(mapping, export, "users", out), out, member)
    for address, (ref, stored) in logins.items():
        out.people.append(Person(ref, address, None, password_hash=stored))
        known.people.setdefault(address, ref)
    for org in orgs.values():
        _name_an_owner(org)

    def subscription(ref: Ref, row: Row) -> None:
        owner = known.company(known.by_name, text(row.get("company_name")), "company_name")
        key = f"{text(row.get('subscription_unit'))}-{text(row.get('units_per_subscription'))}"
        plan = plan_named(mapping, key)
        status = SUBSCRIPTION_STATUS.get(str(row.get("status")))
        if status is None:
            raise BadValue(f"unknown subscription status {row.get('status')!r}")
        periods = sorted(
            (p for p in row.get("usage_periods") or [] if isinstance(p, dict)),
            key=lambda p: moment(p.get("period_start"), "period_start"),
        )
        last = periods[-1] if periods else None
        if last is not None:
            start = moment(last.get("period_start"), "period_start")
            end = moment(last.get("period_end"), "period_end")
        else:
            start, end = period_ending(None, moment(row.get("start_date"), "start_date"), now)
        members = orgs[owner].members
        payer = members[0][0] if members else None
        out.subscriptions.append(Subscription(ref, owner, payer, plan, status, start, end))
        if last is not None and status == "active" and end > now:
            left = whole(last.get("units_allocated", 0), "units_allocated") - whole(
                last.get("units_used", 0), "units_used"
            )
            out.balances.append(
                Balance(
                    ref.part("balance"), owner, start, end, max(0, left) * mapping.tokens_per_unit
                )
            )
        promotional = whole(row.get("promotional_units") or 0, "promotional_units")
        expires = maybe_moment(row.get("end_date"), "end_date") or end
        if promotional > 0 and expires > now:
            promo_ref = ref.part("promotional")
            out.grants.append(
                Grant(promo_ref, owner, promotional * mapping.tokens_per_unit, expires, start)
            )

    each(rows(mapping, export, "subscriptions", out), out, subscription)

    def company_job(ref: Ref, row: Row) -> None:
        user = known.person(row.get("user_id"))
        org = (
            known.company(known.by_name, row.get("company_name"), "company_name")
            if row.get("company_name")
            else None
        )
        out.usage.append(_usage(mapping, ref, user, org, row, "units_count", "total_price"))

    each(rows(mapping, export, "translation_transactions", out), out, company_job)

    def individual_job(ref: Ref, row: Row) -> None:
        user = known.person(row.get("user_email"))
        out.usage.append(_usage(mapping, ref, user, None, row, "number_of_units", "total_cost"))
        if row.get("amount_cents") is not None:
            out.payments.append(_payment(ref, user, None, row, "amount_cents", mapping))

    each(rows(mapping, export, "user_transactions", out), out, individual_job)

    def company_payment(ref: Ref, row: Row) -> None:
        owner = known.company(known.by_company_id, row.get("company_id"), "company_id")
        out.payments.append(_payment(ref, owner, None, row, "amount", mapping))

    each(rows(mapping, export, "payments", out), out, company_payment)

    def invoice(ref: Ref, row: Row) -> None:
        owner = known.company(known.by_object_id, ident(row.get("company_id")), "_id")
        status = INVOICE_STATUS.get(str(row.get("status")))
        if status is None:
            raise BadValue(f"unknown invoice status {row.get('status')!r}")
        due = cents(row.get("total_amount"), "total_amount")
        created = moment(row.get("invoice_date") or row.get("created_at"), "invoice_date")
        out.invoices.append(
            Invoice(
                ref=ref,
                owner=owner,
                number=text(row.get("invoice_number")),
                status=status,
                currency=mapping.currency,
                amount_due=due,
                amount_paid=due if status == "paid" else 0,
                created=created,
                paid_at=created if status == "paid" else None,
            )
        )

    each(rows(mapping, export, "invoices", out), out, invoice)
    return out


def _person(mapping: Mapping, ref: Ref, row: Row) -> Person:
    return Person(
        ref=ref,
        email=email(row.get("email")),
        name=text(row.get("user_name")),
        role=mapping.role_for(None),
        # The old service let only confirmed company accounts sign in.
        verified=text(row.get("status")) == "active",
        active=text(row.get("status")) != "inactive",
        created_at=maybe_moment(row.get("created_at"), "created_at"),
        password_hash=password_hash(row.get("password_hash")),
    )


def _logins(mapping: Mapping, export: Export, out: Extract) -> dict[str, tuple[Ref, str]]:
    found: dict[str, tuple[Ref, str]] = {}

    def login(ref: Ref, row: Row) -> None:
        address = email(row.get("user_email"))
        stored = password_hash(row.get("password_hash"))
        if stored is None:
            raise BadValue("login without a password hash")
        found.setdefault(address, (ref, stored))

    each(rows(mapping, export, "users_login", out), out, login)
    return found


def _name_an_owner(org: Organization) -> None:
    """The first admin owns the company's organization (else the first member)."""
    if not org.members:
        return
    first = next((i for i, (_, role) in enumerate(org.members) if role == "admin"), 0)
    person, _ = org.members[first]
    org.members[first] = (person, "owner")


def _usage(
    mapping: Mapping, ref: Ref, user: Ref, org: Ref | None, row: Row, units: str, price: str
) -> Usage:
    tokens = whole(row.get(units), units) * mapping.tokens_per_unit
    return Usage(
        ref=ref,
        user=user,
        account=org,
        model=mapping.model_name,
        provider=mapping.source,
        feature=text(row.get("unit_type")) or "translation",
        prompt_tokens=tokens,
        completion_tokens=0,
        total_tokens=tokens,
        cost_usd=number(row.get(price), price),
        started_at=moment(row.get("created_at") or row.get("date"), "created_at"),
        status=text(row.get("status")) or "ok",
    )


def _payment(
    ref: Ref, owner: Ref, invoice: Ref | None, row: Row, amount: str, mapping: Mapping
) -> Payment:
    status = PAYMENT_STATUS.get(str(row.get("payment_status")))
    if status is None:
        raise BadValue(f"unknown payment status {row.get('payment_status')!r}")
    paid = whole(row.get(amount), amount)
    refunded = sum(
        whole(r.get("amount_cents", r.get("amount")), "refund amount")
        for r in row.get("refunds") or []
        if isinstance(r, dict) and r.get("status") == "COMPLETED"
    )
    return Payment(
        ref=ref,
        owner=owner,
        invoice=invoice,
        status=status,
        currency=(text(row.get("currency")) or mapping.currency).lower(),
        amount=paid,
        amount_refunded=min(refunded, paid),
        created=moment(row.get("payment_date") or row.get("created_at"), "payment_date"),
    )
