"""Moving in from three existing backends through the importer, against the real system.

The exports are written by the tests (``importer/tests/exports.py``): a MongoDB
user-management backend as mongoexport files, a MongoDB translation service as a
mongodump, a Supabase integration as a plain pg_dump; tens of accounts with bcrypt
hashes, two organizations, sub-users, subscriptions in several states, balances,
promotional units, 10,000 usage rows, payments, invoices, and a few bad rows.

The tests run in order: a dry run, a run killed half-way, the run that resumes it,
then the checks of what a moved-in user sees, and a run that finds everything in.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from suite_settings import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, ROOT

sys.path.insert(0, str(ROOT / "importer" / "tests"))

import exports
from devstack import Stack

pytestmark = pytest.mark.timeout(900)


class Backends:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.um = exports.user_management(root)
        self.tr = exports.translation(root)
        self.sb = exports.supabase(root)
        self.mappings = [str(b.mapping) for b in (self.um, self.tr, self.sb)]
        self.bad = {**self.um.bad, **self.tr.bad, **self.sb.bad}
        self.people = self.um.facts["people"] + self.tr.facts["people"] + self.sb.facts["people"]
        self.usage_rows = (
            self.um.facts["usage_rows"] + self.tr.facts["jobs"] + self.sb.facts["usage_rows"]
        )


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Backends:
    return Backends(tmp_path_factory.mktemp("exports"))


def importer(stack: Stack, backends: Backends, report: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "tollgate.importer", *backends.mappings,
        "--admin-email", ADMIN_EMAIL, "--report", str(report),
        "--auth-url", stack.url("auth"), "--billing-url", stack.url("billing"),
        "--usage-url", stack.url("usage"), *extra,
    ]  # fmt: skip


def environment() -> dict[str, str]:
    return {**os.environ, "TOLLGATE_IMPORT_PASSWORD": ADMIN_PASSWORD}


async def run_importer(stack: Stack, backends: Backends, name: str, *extra: str) -> dict[str, Any]:
    report = backends.root / f"{name}.json"
    process = await asyncio.create_subprocess_exec(
        *importer(stack, backends, report, *extra),
        env=environment(),
        cwd=backends.root,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await asyncio.wait_for(process.communicate(), timeout=600)
    assert process.returncode in (0, 1), errors.decode()
    result: dict[str, Any] = json.loads(report.read_text())
    return result


async def query(database: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(
        f"postgresql://tollgate_{database}:{PASSWORD}@127.0.0.1:5432/{database}_e2e"
    )
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def emails(backends: Backends) -> list[str]:
    found = [*backends.um.passwords, *backends.tr.passwords, *backends.sb.passwords]
    return sorted({*found, "solo2@example.org", "solo3@example.org"})


async def snapshot(backends: Backends) -> dict[str, Any]:
    """Everything the import wrote, in all three databases, in a comparable form."""
    users = await query(
        "auth",
        "SELECT id, email, name, role, is_active, email_verified, parent_user_id, token_limit,"
        " org_id, created_at FROM users WHERE email = ANY($1) ORDER BY email",
        emails(backends),
    )
    ids = [u["id"] for u in users]
    orgs = sorted({u["org_id"] for u in users if u["org_id"]})
    accounts = [*ids, *orgs]
    registered = await query(
        "auth",
        "SELECT body::jsonb->>'subject' AS subject, count(*) AS n FROM outbox"
        " WHERE event_type = 'user.registered' AND body::jsonb->>'subject' = ANY($1)"
        " GROUP BY 1 ORDER BY 1",
        [str(i) for i in ids],
    )
    members = await query(
        "auth",
        "SELECT org_id, user_id, role FROM org_members WHERE org_id = ANY($1) ORDER BY 2",
        orgs,
    )
    subscriptions = await query(
        "billing",
        "SELECT account_id, user_id, org_id, plan, status, stripe_subscription_id,"
        " current_period_start, current_period_end, cancel_at_period_end, sequence"
        " FROM subscriptions WHERE account_id = ANY($1) ORDER BY 1",
        accounts,
    )
    customers = await query(
        "billing",
        "SELECT user_id, email, stripe_customer_id FROM customers WHERE user_id = ANY($1)"
        " ORDER BY 1",
        ids,
    )
    history = await query(
        "billing",
        "SELECT id, amount_due AS amount FROM invoices WHERE account_id = ANY($1)"
        " UNION ALL SELECT id, amount - amount_refunded FROM payments WHERE account_id = ANY($1)"
        " ORDER BY 1",
        accounts,
    )
    grants = await query(
        "usage",
        "SELECT account_id, source, amount, used, starts_at, expires_at FROM grants"
        " WHERE account_id = ANY($1) ORDER BY 1, 2, 5",
        accounts,
    )
    ledger = await query(
        "usage",
        "SELECT account_id, kind, sum(amount) AS total, count(*) AS n FROM ledger_entries"
        " WHERE account_id = ANY($1) GROUP BY 1, 2 ORDER BY 1, 2",
        accounts,
    )
    usage = await query(
        "usage",
        "SELECT count(*) AS n, coalesce(sum(total_tokens), 0) AS tokens FROM usage_records"
        " WHERE request_id LIKE 'import:%' AND user_id = ANY($1)",
        ids,
    )
    rollup = await query(
        "usage",
        "SELECT coalesce(sum(requests), 0) AS n, coalesce(sum(total_tokens), 0) AS tokens"
        " FROM daily_usage WHERE user_id = ANY($1)",
        ids,
    )
    return {
        "users": [dict(r) for r in users],
        "registered": [dict(r) for r in registered],
        "members": [dict(r) for r in members],
        "subscriptions": [dict(r) for r in subscriptions],
        "customers": [dict(r) for r in customers],
        "history": [dict(r) for r in history],
        "grants": [dict(r) for r in grants],
        "ledger": [dict(r) for r in ledger],
        "usage": dict(usage[0]),
        "rollup": dict(rollup[0]),
    }


async def settled(backends: Backends, timeout: float = 90) -> dict[str, Any]:
    """The snapshot once the events the import caused have all been applied."""
    deadline = time.monotonic() + timeout
    last = await snapshot(backends)
    while time.monotonic() < deadline:
        await asyncio.sleep(2)
        now = await snapshot(backends)
        accounts = {s["account_id"] for s in now["subscriptions"]}
        plan_granted = {g["account_id"] for g in now["grants"] if g["source"] == "plan"}
        if now == last and accounts and plan_granted:
            return now
        last = now
    return last


async def test_a_dry_run_reads_and_checks_everything_and_writes_nothing(
    stack: Stack, backends: Backends, gateway: httpx.AsyncClient
) -> None:
    report = await run_importer(stack, backends, "dry-run", "--dry-run")

    assert report["dry_run"] is True
    assert report["counts"]["people"]["imported"] == backends.people
    assert report["counts"]["usage"]["imported"] == backends.usage_rows
    assert {f"{r['source']}/{r['collection']}/{r['source_id']}" for r in report["refused"]} == set(
        backends.bad
    )
    signing_in = await gateway.post(
        "/api/auth/login-json", json={"email": "um4@example.com", "password": "old password 4"}
    )
    assert signing_in.status_code == 401


async def test_a_run_killed_half_way_and_run_again_ends_as_one_clean_run(
    stack: Stack, backends: Backends
) -> None:
    report_path = backends.root / "killed.json"
    process = await asyncio.create_subprocess_exec(
        *importer(stack, backends, report_path),
        env=environment(),
        cwd=backends.root,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            rows = await query(
                "auth", "SELECT count(*) AS n FROM users WHERE email LIKE 'um%@example.com'"
            )
            if rows[0]["n"] >= 10 or process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        assert process.returncode is None, "the import finished before it could be interrupted"
        process.kill()
    finally:
        await process.wait()
    assert not report_path.exists()

    report = await run_importer(stack, backends, "resumed")
    state = await settled(backends)

    counts = report["counts"]
    assert counts["people"]["imported"] + counts["people"]["skipped"] == backends.people
    assert counts["people"]["skipped"] >= 10  # what the killed run had written
    assert {f"{r['source']}/{r['collection']}/{r['source_id']}" for r in report["refused"]} == set(
        backends.bad
    )
    for refusal in report["refused"]:
        fragment = backends.bad[
            f"{refusal['source']}/{refusal['collection']}/{refusal['source_id']}"
        ]
        assert fragment.split("'")[0] in refusal["reason"], refusal
    # As one clean run: every account once, announced once, every usage row counted once.
    assert len(state["users"]) == backends.people
    assert all(r["n"] == 1 for r in state["registered"])
    assert len(state["registered"]) == backends.people
    assert all(s["sequence"] == 1 for s in state["subscriptions"])
    assert state["usage"] == {"n": backends.usage_rows, "tokens": state["rollup"]["tokens"]}
    assert state["rollup"]["n"] == backends.usage_rows
    print(f"\nusage history: {report['usage_rows_per_second']} rows/s")


async def test_a_moved_in_user_signs_in_with_the_old_password_which_becomes_argon2id(
    gateway: httpx.AsyncClient, backends: Backends
) -> None:
    email, password = "um4@example.com", backends.um.passwords["um4@example.com"]
    before = await query("auth", "SELECT password_hash FROM users WHERE email = $1", email)
    assert before[0]["password_hash"].startswith("$2")

    signed_in = await gateway.post(
        "/api/auth/login-json", json={"email": email, "password": password}
    )

    assert signed_in.status_code == 200, signed_in.text
    after = await query("auth", "SELECT password_hash FROM users WHERE email = $1", email)
    assert after[0]["password_hash"].startswith("$argon2id$")
    again = await gateway.post("/api/auth/login-json", json={"email": email, "password": password})
    assert again.status_code == 200
    wrong = await gateway.post("/api/auth/login-json", json={"email": email, "password": "nope"})
    assert wrong.status_code == 401


async def sign_in(gateway: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await gateway.post(
        "/api/auth/login-json", json={"email": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_a_moved_in_user_sees_their_plan_remaining_balance_and_past_months(
    gateway: httpx.AsyncClient, backends: Backends
) -> None:
    facts = backends.um.facts
    headers = await sign_in(gateway, facts["pro_user"], backends.um.passwords[facts["pro_user"]])

    plan = (await gateway.get("/api/subscriptions/current", headers=headers)).json()
    assert (plan["plan"], plan["status"], plan["billed_by"]) == ("pro", "active", "stripe")
    assert plan["cancel_at_period_end"] is True
    balance = (await gateway.get("/api/tokens/balance", headers=headers)).json()
    assert balance["available"] == facts["pro_remaining"]
    start = (datetime.now(UTC) - timedelta(days=150)).date()
    stats = await gateway.get(
        "/api/usage/stats", params={"group_by": "day", "start": str(start)}, headers=headers
    )
    assert stats.status_code == 200, stats.text
    body = stats.json()
    assert body["totals"]["requests"] == facts["pro_user_usage"]
    months = {item["key"][:7] for item in body["items"]}
    assert len(months) >= 4  # the months before the move


async def test_members_see_their_organization_and_its_pool_with_promotional_units(
    gateway: httpx.AsyncClient, backends: Backends
) -> None:
    member = backends.um.facts["org_member"]
    headers = await sign_in(gateway, member, backends.um.passwords[member])
    orgs = (await gateway.get("/api/organizations", headers=headers)).json()
    assert [o["name"] for o in orgs] == [backends.um.facts["org_name"]]

    owner = backends.tr.facts["owner"]
    headers = await sign_in(gateway, owner, backends.tr.passwords[owner])
    orgs = (await gateway.get("/api/organizations", headers=headers)).json()
    assert [o["name"] for o in orgs] == [backends.tr.facts["org_name"]]
    balance = (await gateway.get("/api/tokens/balance", headers=headers)).json()
    assert balance["account_kind"] == "org"
    assert balance["available"] == backends.tr.facts["remaining"] + backends.tr.facts["promotional"]
    assert "promotional" in {g["source"] for g in balance["grants"]}


async def test_the_old_invoices_and_payments_are_in_the_billing_history(
    gateway: httpx.AsyncClient, backends: Backends
) -> None:
    owner = backends.tr.facts["owner"]
    headers = await sign_in(gateway, owner, backends.tr.passwords[owner])
    (org,) = (await gateway.get("/api/organizations", headers=headers)).json()

    invoices = await gateway.get(
        "/api/billing/invoices", params={"org_id": org["id"]}, headers=headers
    )
    payments = await gateway.get(
        "/api/billing/payments", params={"org_id": org["id"]}, headers=headers
    )

    assert invoices.status_code == 200, invoices.text
    assert sorted(i["number"] for i in invoices.json()["items"]) == ["INV-2025-000", "INV-2025-001"]
    assert [p["amount"] for p in payments.json()["items"]] == [1299, 1299]
    solo = await sign_in(gateway, "solo0@example.org", backends.tr.passwords["solo0@example.org"])
    own = (await gateway.get("/api/billing/payments", headers=solo)).json()["items"]
    assert sorted(p["amount_refunded"] for p in own) == [0, 0, 50]


async def test_sub_users_keep_their_parent_and_caps_and_disabled_accounts_stay_shut(
    gateway: httpx.AsyncClient, backends: Backends
) -> None:
    facts = backends.um.facts
    headers = await sign_in(gateway, facts["parent"], backends.um.passwords[facts["parent"]])
    subs = (await gateway.get("/api/sub-users", headers=headers)).json()
    assert sorted(s["token_limit"] for s in subs) == [5_000, 10_000, 15_000]
    await sign_in(gateway, facts["sub_user"], backends.um.passwords[facts["sub_user"]])
    disabled = await gateway.post(
        "/api/auth/login-json",
        json={"email": facts["disabled"], "password": backends.um.passwords[facts["disabled"]]},
    )
    assert disabled.status_code == 401


async def test_running_the_import_again_changes_nothing(stack: Stack, backends: Backends) -> None:
    before = await settled(backends)

    report = await run_importer(stack, backends, "again")

    assert all(c["imported"] == 0 for c in report["counts"].values()), report["counts"]
    assert report["counts"]["usage"]["skipped"] == backends.usage_rows
    assert await settled(backends) == before
