"""Rules across rows and sources, applied to everything read before anything is written.

Refusing here, not halfway through writing, is what keeps an account whole: a
person whose subscription was refused is refused too, and so is everything that
belongs to a refused or absent row (``because_of`` names the row at fault).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from tollgate.importer.records import Extract, Person, Ref, Refusal, Subscription
from tollgate.importer.shapes.values import current_period

__all__ = ["MEMBERSHIPS", "check", "give_default_plans", "refuse_duplicate_emails"]

MEMBERSHIPS = "memberships"


def refuse_duplicate_emails(extract: Extract) -> None:
    """One account per email across every source: the first one read keeps it."""
    first_with: dict[str, Ref] = {}
    kept: list[Person] = []
    for person in extract.people:
        if person.email in first_with:
            also = first_with[person.email]
            extract.refuse(person.ref, f"duplicate email {person.email} (also {also})")
        else:
            first_with[person.email] = person.ref
            kept.append(person)
    extract.people = kept


def give_default_plans(extract: Extract, plans: dict[str, str | None]) -> None:
    """Every account needs a subscription; a person the source gave none gets the default.

    ``plans`` maps a source to its mapping's default plan; without one the person is refused.
    """
    has_plan = {s.owner for s in extract.subscriptions}
    refused = {r.ref for r in extract.refusals}
    now = datetime.now(UTC)
    kept: list[Person] = []
    for person in extract.people:
        if person.parent is not None or person.ref in has_plan or person.ref in refused:
            kept.append(person)
            continue
        plan = plans.get(person.ref.source)
        if plan is None:
            extract.refuse(person.ref, "no plan in the source and no default_plan in the mapping")
            continue
        start, end = current_period(person.created_at or now, now)
        ref = person.ref.part("plan")
        extract.subscriptions.append(
            Subscription(ref, person.ref, None, plan, "active", start, end)
        )
        kept.append(person)
    extract.people = kept


def check(extract: Extract, known_plans: Iterable[str] | None = None) -> None:
    """Refuse what breaks a rule across rows; afterwards every reference resolves."""
    refused: dict[Ref, Refusal] = {r.ref: r for r in extract.refusals}

    def refuse(ref: Ref, reason: str, because_of: Ref | None) -> None:
        if ref not in refused:
            refused[ref] = Refusal(ref, reason, because_of)
            extract.refusals.append(refused[ref])

    if known_plans is not None:
        catalog = set(known_plans)
        for sub in extract.subscriptions:
            if sub.plan not in catalog:
                refuse(sub.ref, f"unknown plan {sub.plan!r}: Tollgate has no such plan", None)

    org_refs = {o.ref for o in extract.organizations}
    for sub in extract.subscriptions:
        if sub.owner in org_refs and sub.payer is None:
            refuse(sub.ref, "no member of the organization can pay for its plan", None)

    people = {p.ref: p for p in extract.people}
    orgs = {o.ref: o for o in extract.organizations}
    for sub in extract.subscriptions:
        if sub.ref in refused and sub.owner not in refused:
            refuse(sub.owner, "refused with its subscription", sub.ref)

    def fault(ref: Ref | None, table: dict[Ref, Person]) -> Ref | None:
        """The row at fault if ``ref`` cannot be used: itself if absent or refused."""
        if ref is None:
            return None
        if ref not in table or ref in refused:
            return ref
        return None

    changed = True
    while changed:  # a refused parent takes its sub-users, and theirs
        changed = False
        for person in extract.people:
            bad = fault(person.parent, people)
            if person.ref not in refused and bad is not None:
                _refuse_for(refuse, person.ref, bad, refused)
                changed = True

    for sub in extract.subscriptions:  # an organization whose payer went goes with its plan
        bad = fault(sub.payer, people)
        if bad is not None and sub.ref not in refused:
            _refuse_for(refuse, sub.ref, bad, refused)
            refuse(sub.owner, "refused with its subscription", sub.ref)

    for org in extract.organizations:
        kept: list[tuple[Ref, str]] = []
        for member, role in org.members:
            bad = fault(member, people)
            if bad is None and people[member].parent is None:
                kept.append((member, role))
            elif bad is not None and org.ref not in refused:
                ref = Ref(org.ref.source, MEMBERSHIPS, f"{org.ref.id}:{member.id}")
                _refuse_for(refuse, ref, bad, refused)
        org.members = kept

    # What a row may belong to: the people and organizations kept so far.
    accounts: set[Ref] = set(people) | set(orgs)

    def keep(row_ref: Ref, owners: list[Ref | None]) -> bool:
        if row_ref in refused:
            return False
        bad = next(
            (o for o in owners if o is not None and (o not in accounts or o in refused)), None
        )
        if bad is None:
            return True
        _refuse_for(refuse, row_ref, bad, refused)
        return False

    extract.people = [p for p in extract.people if p.ref not in refused]
    extract.organizations = [o for o in extract.organizations if o.ref not in refused]
    extract.subscriptions = [s for s in extract.subscriptions if keep(s.ref, [s.owner, s.payer])]
    extract.balances = [b for b in extract.balances if keep(b.ref, [b.owner])]
    extract.grants = [g for g in extract.grants if keep(g.ref, [g.owner])]
    extract.usage = [u for u in extract.usage if keep(u.ref, [u.user, u.account])]
    extract.invoices = [i for i in extract.invoices if keep(i.ref, [i.owner])]
    accounts |= {i.ref for i in extract.invoices}  # a payment may settle one of them
    extract.payments = [p for p in extract.payments if keep(p.ref, [p.owner, p.invoice])]


Refuse = Callable[[Ref, str, Ref | None], None]


def _refuse_for(refuse: Refuse, ref: Ref, bad: Ref, refused: dict[Ref, Refusal]) -> None:
    if bad in refused:
        refuse(ref, f"depends on refused {bad}", bad)
    else:
        refuse(ref, f"dangling reference: {bad} is not in the export", bad)
