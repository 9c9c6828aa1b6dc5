"""A MongoDB user-management backend of a VS Code extension.

Collections: ``users`` (accounts, sub-users with a ``parent_user_id``, the plan in
``subscription``, the balance in ``tokens_remaining`` until ``reset_date``, a Stripe
customer), ``organizations`` (``owner_id``, ``members``, ``subscription_tier``),
optionally ``subscriptions`` (a Stripe subscription per user) and ``token_usage``
(one metered call per document).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tollgate.importer.mapping import Mapping
from tollgate.importer.readers import Export, Row
from tollgate.importer.records import (
    Extract,
    Organization,
    Person,
    Ref,
    Subscription,
    Usage,
)
from tollgate.importer.shapes.reading import each, keep_person, plan_named, rows
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

STATUSES = {"active", "trialing", "past_due", "unpaid", "canceled", "paused"}


def extract(mapping: Mapping, export: Export) -> Extract:
    out = Extract()
    now = datetime.now(UTC)
    stripe_subscriptions, refused_subscriptions = _stripe_subscriptions(mapping, export, out)

    def person(ref: Ref, row: Row) -> None:
        found = Person(
            ref=ref,
            email=email(row.get("email")),
            name=text(row.get("full_name")) or text(row.get("name")),
            role=mapping.role_for(text(row.get("role"))),
            verified=flag(row.get("email_verified"), flag(row.get("is_verified"))),
            active=flag(row.get("is_active"), True),
            created_at=maybe_moment(row.get("created_at"), "created_at"),
            password_hash=password_hash(row.get("password_hash")),
        )
        if ref.id in refused_subscriptions:
            # Moving the account without its paid plan would be half an account.
            out.refuse(ref, "refused with its subscription", refused_subscriptions[ref.id])
            return
        parent = ident(row.get("parent_user_id"))
        if flag(row.get("is_sub_user")) or parent:
            if parent is None:
                raise BadValue("sub-user without a parent_user_id")
            found.parent = Ref(mapping.source, "users", parent)
            found.permissions = _permissions(row.get("sub_user_permissions"))
            found.token_limit = _cap(row.get("sub_user_limits"), mapping)
            out.people.append(found)
            return
        period = period_ending(
            maybe_moment(row.get("reset_date"), "reset_date"), found.created_at, now
        )
        subscription = stripe_subscriptions.pop(ref.id, None)
        if subscription is None:
            plan = plan_named(mapping, row.get("subscription"))
            subscription = Subscription(ref.part("plan"), ref, None, plan, "active", *period)
        keep_person(out, mapping, row, found, subscription, "tokens_remaining")

    each(rows(mapping, export, "users", out, required=True), out, person)
    for orphan in stripe_subscriptions.values():
        out.subscriptions.append(orphan)  # checks refuse it: its user is not in the export

    def organization(ref: Ref, row: Row) -> None:
        owner = ident(row.get("owner_id"))
        members: list[tuple[Ref, str]] = []
        if owner:
            members.append((Ref(mapping.source, "users", owner), "owner"))
        for member in row.get("members") or []:
            member_id = ident(member)
            if member_id and member_id != owner:
                members.append((Ref(mapping.source, "users", member_id), "member"))
        created = maybe_moment(row.get("created_at"), "created_at")
        tier = text(row.get("subscription_tier"))
        plan = plan_named(mapping, tier)
        org = Organization(ref, text(row.get("name")) or f"Organization {ref.id}", created, members)
        start, end = period_ending(None, created, now)
        payer = members[0][0] if members else None
        out.organizations.append(org)
        out.subscriptions.append(
            Subscription(ref.part("plan"), ref, payer, plan, "active", start, end)
        )

    each(rows(mapping, export, "organizations", out), out, organization)

    def usage(ref: Ref, row: Row) -> None:
        user = ident(row.get("user_id"))
        if user is None:
            raise BadValue("usage without a user_id")
        org = ident(row.get("organization_id"))
        prompt = whole(row.get("prompt_tokens", 0), "prompt_tokens")
        completion = whole(row.get("completion_tokens", 0), "completion_tokens")
        total = row.get("total_tokens")
        cost = row.get("cost_usd", row.get("cost"))
        out.usage.append(
            Usage(
                ref=ref,
                user=Ref(mapping.source, "users", user),
                account=Ref(mapping.source, "organizations", org) if org else None,
                model=text(row.get("model")) or mapping.model_name,
                provider=text(row.get("provider")) or "unknown",
                feature=text(row.get("feature")) or text(row.get("request_type")) or "chat",
                prompt_tokens=prompt,
                completion_tokens=completion,
                total_tokens=whole(total, "total_tokens")
                if total is not None
                else prompt + completion,
                cost_usd=number(cost, "cost") if cost is not None else Decimal(0),
                started_at=moment(row.get("created_at", row.get("timestamp")), "created_at"),
            )
        )

    each(rows(mapping, export, "token_usage", out), out, usage)
    return out


def _stripe_subscriptions(
    mapping: Mapping, export: Export, out: Extract
) -> tuple[dict[str, Subscription], dict[str, Ref]]:
    """Subscriptions by user id, and the refs of refused ones by user id."""
    found: dict[str, Subscription] = {}
    refused: dict[str, Ref] = {}

    def subscription(ref: Ref, row: Row) -> None:
        user = ident(row.get("user_id"))
        if user is None:
            raise BadValue("subscription without a user_id")
        plan = plan_named(mapping, row.get("plan"))
        status = text(row.get("status")) or "active"
        if status not in STATUSES:
            raise BadValue(f"unknown subscription status {status!r}")
        owner = Ref(mapping.source, "users", user)
        found[user] = Subscription(
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

    for ref, row in rows(mapping, export, "subscriptions", out):
        try:
            subscription(ref, row)
        except BadValue as exc:
            out.refuse(ref, str(exc))
            user = ident(row.get("user_id"))
            if user is not None:
                refused[user] = ref
    return found, refused


def _permissions(value: Any) -> list[str]:
    if isinstance(value, dict):
        return sorted(str(k) for k, v in value.items() if v)
    if isinstance(value, list):
        return sorted(str(v) for v in value)
    return []


def _cap(value: Any, mapping: Mapping) -> int | None:
    if not isinstance(value, dict):
        return None
    cap = value.get("monthly_tokens", value.get("token_limit"))
    if cap is None:
        return None
    return whole(cap, "sub-user token limit") * mapping.tokens_per_unit
