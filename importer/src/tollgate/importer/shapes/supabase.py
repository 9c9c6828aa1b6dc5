"""A Supabase (PostgreSQL) backend of a VS Code integration, from pg_dump or CSV.

Tables: ``users`` (the auth provider's bcrypt hash, the plan, ``credits`` left,
a Stripe customer), optionally ``subscriptions`` (Stripe subscriptions by
``user_id``), ``model_usage`` (one metered call per row) and
``credit_transactions`` (promotional and bonus credits with an expiry become
grants; purchases and spending are already in ``users.credits``). Session
tracking, feature usage and rate-limit tables are not carried over.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tollgate.importer.mapping import Mapping
from tollgate.importer.readers import Export, Row
from tollgate.importer.records import Extract, Grant, Person, Ref, Subscription, Usage
from tollgate.importer.shapes.reading import each, keep_person, plan_named, rows
from tollgate.importer.shapes.user_management import STATUSES
from tollgate.importer.shapes.values import (
    BadValue,
    email,
    flag,
    ident,
    maybe_moment,
    moment,
    number,
    password_hash,
    period_ending,
    text,
    whole,
)

GRANT_TYPES = frozenset({"promotional", "bonus"})


def extract(mapping: Mapping, export: Export) -> Extract:
    out = Extract()
    now = datetime.now(UTC)
    subscriptions: dict[str, tuple[Ref, Row]] = {}
    for ref, row in rows(mapping, export, "subscriptions", out):
        user_id = ident(row.get("user_id"))
        if user_id is None:
            out.refuse(ref, "subscription without a user_id")
            continue
        subscriptions[user_id] = (ref, row)

    def user(ref: Ref, row: Row) -> None:
        person = Person(
            ref=ref,
            email=email(row.get("email")),
            name=text(row.get("full_name")) or text(row.get("name")),
            role=mapping.role_for(text(row.get("role"))),
            verified=flag(row.get("email_verified")),
            active=flag(row.get("is_active"), True),
            created_at=maybe_moment(row.get("created_at"), "created_at"),
            password_hash=password_hash(row.get("password_hash")),
        )
        own = subscriptions.pop(ref.id, None)
        if own is not None:
            sub_ref, sub_row = own
            try:
                subscription = _subscription(mapping, sub_ref, ref, sub_row)
            except BadValue as exc:
                out.refuse(sub_ref, str(exc))
                out.refuse(ref, "refused with its subscription", sub_ref)
                return
        else:
            plan = plan_named(mapping, row.get("plan"))
            start, end = period_ending(None, person.created_at, now)
            subscription = Subscription(ref.part("plan"), ref, None, plan, "active", start, end)
        keep_person(out, mapping, row, person, subscription, "credits")

    each(rows(mapping, export, "users", out, required=True), out, user)
    for sub_ref, sub_row in subscriptions.values():
        owner = Ref(mapping.source, "users", ident(sub_row.get("user_id")) or "")
        out.refuse(sub_ref, f"dangling reference: no user {owner.id}")

    def usage(ref: Ref, row: Row) -> None:
        user_id = ident(row.get("user_id"))
        if user_id is None:
            raise BadValue("usage without a user_id")
        prompt = whole(row.get("prompt_tokens") or 0, "prompt_tokens")
        completion = whole(row.get("completion_tokens") or 0, "completion_tokens")
        total = row.get("total_tokens")
        cost = row.get("cost")
        out.usage.append(
            Usage(
                ref=ref,
                user=Ref(mapping.source, "users", user_id),
                account=None,
                model=text(row.get("model")) or mapping.model_name,
                provider=text(row.get("provider")) or "unknown",
                feature=text(row.get("feature")) or "chat",
                prompt_tokens=prompt,
                completion_tokens=completion,
                total_tokens=whole(total, "total_tokens")
                if total is not None
                else prompt + completion,
                cost_usd=number(cost, "cost") if cost is not None else Decimal(0),
                started_at=moment(row.get("created_at"), "created_at"),
            )
        )

    each(rows(mapping, export, "model_usage", out), out, usage)

    def credit(ref: Ref, row: Row) -> None:
        kind = text(row.get("transaction_type")) or text(row.get("type"))
        if kind not in GRANT_TYPES:
            return  # purchases and spending are already in users.credits
        amount = whole(row.get("amount"), "amount")
        expires = maybe_moment(row.get("expires_at"), "expires_at")
        if amount <= 0 or (expires is not None and expires <= now):
            return
        user_id = ident(row.get("user_id"))
        if user_id is None:
            raise BadValue("credit without a user_id")
        out.grants.append(
            Grant(
                ref=ref,
                owner=Ref(mapping.source, "users", user_id),
                amount=amount * mapping.tokens_per_unit,
                expires_at=expires,
                starts_at=maybe_moment(row.get("created_at"), "created_at"),
            )
        )

    each(rows(mapping, export, "credit_transactions", out), out, credit)
    return out


def _subscription(mapping: Mapping, ref: Ref, owner: Ref, row: Row) -> Subscription:
    plan = plan_named(mapping, row.get("plan"))
    status = text(row.get("status")) or "active"
    if status not in STATUSES:
        raise BadValue(f"unknown subscription status {status!r}")
    return Subscription(
        ref=ref,
        owner=owner,
        payer=None,
        plan=plan,
        status=status,
        period_start=moment(row.get("current_period_start"), "current_period_start"),
        period_end=moment(row.get("current_period_end"), "current_period_end"),
        cancel_at_period_end=flag(row.get("cancel_at_period_end")),
        stripe_subscription_id=text(row.get("stripe_subscription_id")),
    )
