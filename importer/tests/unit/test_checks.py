"""From exports to records: every bad row refused with its reason, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import exports
import pytest

from tollgate.importer.checks import check, give_default_plans, refuse_duplicate_emails
from tollgate.importer.mapping import load_mapping
from tollgate.importer.records import Extract, Organization, Person, Ref, Subscription
from tollgate.importer.shapes import extract


def read(*mappings: Path) -> Extract:
    everything = Extract()
    defaults = {}
    for path in mappings:
        mapping = load_mapping(path)
        defaults[mapping.source] = mapping.default_plan
        everything.merge(extract(mapping, mapping.open_export()))
    refuse_duplicate_emails(everything)
    give_default_plans(everything, defaults)
    check(everything, ["free", "pro", "enterprise"])
    return everything


def refused(records: Extract) -> dict[str, str]:
    return {str(r.ref): r.reason for r in records.refusals}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, exports.Built]:
    root = tmp_path_factory.mktemp("exports")
    return {
        "um": exports.user_management(root, usage_rows=300),
        "tr": exports.translation(root),
        "sb": exports.supabase(root),
        "csv": exports.supabase(root, as_csv=True),
    }


def test_every_bad_row_of_three_backends_is_refused_with_its_reason_and_nothing_else(
    built: dict[str, exports.Built],
) -> None:
    records = read(built["um"].mapping, built["tr"].mapping, built["sb"].mapping)

    bad = {**built["um"].bad, **built["tr"].bad, **built["sb"].bad}
    assert set(refused(records)) == set(bad)
    for ref, reason in refused(records).items():
        assert bad[ref].split("'")[0] in reason


def test_the_user_management_export_gives_accounts_plans_balances_and_usage(
    built: dict[str, exports.Built],
) -> None:
    records = read(built["um"].mapping)

    by_email = {p.email: p for p in records.people}
    assert len(by_email) == built["um"].facts["people"]
    assert by_email["um-sub0@example.com"].parent == by_email["um0@example.com"].ref
    assert by_email["um-sub0@example.com"].token_limit == 5_000
    assert by_email["um7@example.com"].active is False
    assert by_email["um3@example.com"].role == "developer"
    states = {s.status for s in records.subscriptions if s.stripe_subscription_id}
    assert {"active", "past_due", "trialing", "canceled"} <= states
    assert len(records.usage) == 300
    (org,) = records.organizations
    assert [role for _, role in org.members] == ["owner", "member", "member"]


def test_the_translation_dump_gives_a_company_pool_with_promotional_units(
    built: dict[str, exports.Built],
) -> None:
    records = read(built["tr"].mapping)

    (org,) = records.organizations
    assert org.name == "Globex Translations"
    assert org.members[0][1] == "owner" and len(org.members) == 6
    (balance,) = records.balances
    assert balance.owner == org.ref and balance.remaining == built["tr"].facts["remaining"]
    (grant,) = records.grants
    assert grant.amount == built["tr"].facts["promotional"]
    solo = next(p for p in records.people if p.email == "solo0@example.org")
    assert solo.password_hash is not None  # joined from users_login by email
    refunded = [p for p in records.payments if p.amount_refunded]
    assert [p.amount - p.amount_refunded for p in refunded] == [100]
    assert {i.amount_due for i in records.invoices} == {1000}


def test_a_supabase_dump_and_its_csv_export_give_the_same_records(
    built: dict[str, exports.Built],
) -> None:
    from_sql = read(built["sb"].mapping)
    from_csv = read(built["csv"].mapping)

    assert [(p.email, p.name, p.password_hash) for p in from_sql.people] == [
        (p.email, p.name, p.password_hash) for p in from_csv.people
    ]
    assert [b.remaining for b in from_sql.balances] == [b.remaining for b in from_csv.balances]
    assert len(from_sql.usage) == len(from_csv.usage) == 50
    assert [g.amount for g in from_sql.grants] == [built["sb"].facts["promotional"]]
    trialing = [s for s in from_sql.subscriptions if s.status == "trialing"]
    assert [s.stripe_subscription_id for s in trialing] == ["sub_sb1"]


def test_a_refused_parent_takes_its_sub_users_and_their_usage_with_it(tmp_path: Path) -> None:
    built = exports.user_management(tmp_path, usage_rows=30)
    users = (tmp_path / "user-management" / "users.json").read_text().splitlines()
    # Break the parent's hash: its three sub-users now depend on a refused row.
    users[0] = users[0].replace('"password_hash": "$2', '"password_hash": "x$2', 1)
    (tmp_path / "user-management" / "users.json").write_text("\n".join(users) + "\n")

    records = read(built.mapping)

    reasons = refused(records)
    parent = f"user-management/users/{exports.oid('um-user-0')}"
    assert reasons[parent].startswith("malformed password hash")
    because = [r for r in records.refusals if str(r.because_of) == parent]
    # Its three sub-users, and its usage rows (one in twenty of 30).
    assert sorted(r.ref.collection for r in because) == ["token_usage"] * 2 + ["users"] * 3
    assert all(r.reason == f"depends on refused {parent}" for r in because)


def test_an_organization_whose_paying_member_is_refused_goes_with_its_plan() -> None:
    alice, org = Ref("s", "users", "a"), Ref("s", "organizations", "o")
    now = datetime.now(UTC)
    records = Extract(
        people=[Person(alice, "a@example.com", "A", parent=Ref("s", "users", "ghost"))],
        organizations=[Organization(org, "Org", now, [(alice, "owner")])],
        subscriptions=[
            Subscription(org.part("plan"), org, alice, "pro", "active", now, now + timedelta(30))
        ],
    )

    check(records, ["pro"])

    reasons = refused(records)
    assert reasons["s/users/a"].startswith("dangling reference")
    assert reasons["s/organizations/o#plan"] == "depends on refused s/users/a"
    assert reasons["s/organizations/o"] == "refused with its subscription"
    assert records.organizations == [] and records.subscriptions == []
