"""Walking a collection of an export: each row with its ref, bad values refused, not raised;
and what every shape does with a row's plan and a person's balance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tollgate.importer.mapping import Mapping
from tollgate.importer.readers import Export, ExportError, Row
from tollgate.importer.records import Balance, Extract, Person, Ref, Subscription
from tollgate.importer.shapes.values import BadValue, ident, text, whole

__all__ = ["each", "keep_person", "plan_named", "rows"]


def rows(
    mapping: Mapping, export: Export, name: str, out: Extract, *, required: bool = False
) -> list[tuple[Ref, Row]]:
    """The collection's rows with their refs; an absent optional collection is empty."""
    physical = mapping.collection(name)
    if not export.has(physical):
        if required:
            raise ExportError(f"{mapping.source}: the export has no {physical!r}")
        return []
    found = []
    for number_, raw in enumerate(export.rows(physical), 1):
        out.read[name] += 1
        row = mapping.renamed(name, raw)
        key = ident(row.get("_id")) or ident(row.get("id")) or f"#{number_}"
        found.append((Ref(mapping.source, name, key), row))
    return found


def each(items: list[tuple[Ref, Row]], out: Extract, build: Callable[[Ref, Row], None]) -> None:
    for ref, row in items:
        try:
            build(ref, row)
        except BadValue as exc:
            out.refuse(ref, str(exc))


def plan_named(mapping: Mapping, source_plan: Any) -> str:
    """The Tollgate plan the mapping gives a row's plan, or a BadValue naming it."""
    plan = mapping.plan_for(text(source_plan))
    if plan is None:
        raise BadValue(f"unknown plan {source_plan!r}")
    return plan


def keep_person(
    out: Extract,
    mapping: Mapping,
    row: Row,
    person: Person,
    subscription: Subscription,
    balance_field: str,
) -> None:
    """A person with their subscription and the balance their row states in
    ``balance_field`` (the source's units, for the subscription's period): all of it
    or, when a value is bad, none of it."""
    subscription.stripe_customer_id = text(row.get("stripe_customer_id"))
    units = row.get(balance_field)
    balance = None
    if units is not None:
        tokens = whole(units, balance_field) * mapping.tokens_per_unit
        balance = Balance(
            person.ref.part("balance"),
            person.ref,
            subscription.period_start,
            subscription.period_end,
            tokens,
        )
    out.people.append(person)
    out.subscriptions.append(subscription)
    if balance is not None:
        out.balances.append(balance)
