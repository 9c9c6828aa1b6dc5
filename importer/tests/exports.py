"""Exports of the three kinds of backend, written by the tests, with known bad rows.

Each builder writes its export and a mapping file beside it, and returns what a
test needs to know: who signs in with which password, and which rows are bad
(and why), so a test can say that exactly those were refused.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bcrypt
import bson
from bson import ObjectId, json_util
from bson.json_util import JSONMode, JSONOptions

NOW = datetime.now(UTC).replace(microsecond=0)
CANONICAL = JSONOptions(json_mode=JSONMode.CANONICAL, tz_aware=True)
RELAXED = JSONOptions(json_mode=JSONMode.RELAXED, tz_aware=True)
# The backends hashed at cost 10-12; cost 4 keeps the fixtures fast and is still bcrypt.
_SALT = bcrypt.gensalt(rounds=4)


def hashed(password: str, prefix: bytes = b"$2b$") -> str:
    value = bcrypt.hashpw(password.encode(), _SALT).decode()
    return prefix.decode() + value[4:]


def oid(seed: str) -> ObjectId:
    """A stable ObjectId per name, so every build writes the same ids."""
    return ObjectId(hashlib.sha256(seed.encode()).digest()[:12])


@dataclass
class Built:
    mapping: Path
    passwords: dict[str, str] = field(default_factory=dict)  # email -> old password
    bad: dict[str, str] = field(default_factory=dict)  # "source/collection/id" -> reason fragment
    facts: dict[str, Any] = field(default_factory=dict)


def _write_json(path: Path, docs: list[dict[str, Any]], options: JSONOptions) -> None:
    path.write_text("".join(json_util.dumps(d, json_options=options) + "\n" for d in docs))


def user_management(root: Path, *, usage_rows: int = 10_000, people: int = 24) -> Built:
    """mongoexport files: users in canonical Extended JSON, the rest relaxed."""
    export = root / "user-management"
    export.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    built = Built(root / "user-management.yaml")
    users: list[dict[str, Any]] = []
    subscriptions: list[dict[str, Any]] = []
    reset = NOW + timedelta(days=12)
    plans = ["free", "pro", "enterprise"]
    states = ["active", "past_due", "trialing", "canceled"]
    for i in range(people):
        email = f"um{i}@example.com"
        password = f"old password {i}"
        plan = plans[i % 3]
        user_id = oid(f"um-user-{i}")
        users.append(
            {
                "_id": user_id,
                "email": email,
                "password_hash": hashed(password, b"$2b$" if i % 2 else b"$2a$"),
                "name": f"User {i}",
                "full_name": f"User Number {i}",
                "stripe_customer_id": f"cus_um{i}" if plan != "free" else None,
                "subscription": plan,
                "tokens_remaining": 1_000 + 37 * i,
                "tokens_used": 500,
                "monthly_limit": 10_000,
                "reset_date": reset,
                "created_at": NOW - timedelta(days=200 + i),
                "is_active": i != 7,
                "role": "developer" if i == 3 else "user",
                "is_sub_user": False,
            }
        )
        built.passwords[email] = password
        if plan == "pro":
            subscriptions.append(
                {
                    "_id": oid(f"um-sub-{i}"),
                    "user_id": user_id,
                    "plan": "pro",
                    "status": states[(i // 3) % len(states)],
                    "stripe_subscription_id": f"sub_um{i}",
                    "current_period_start": reset - timedelta(days=30),
                    "current_period_end": reset,
                    "cancel_at_period_end": i == 13,
                }
            )
    parent = users[0]["_id"]
    for j in range(3):
        email = f"um-sub{j}@example.com"
        users.append(
            {
                "_id": oid(f"um-subuser-{j}"),
                "email": email,
                "password_hash": hashed(f"sub password {j}"),
                "name": f"Sub-user {j}",
                "role": "user",
                "parent_user_id": parent,
                "is_sub_user": True,
                "sub_user_permissions": {"chat": True, "completions": j != 1},
                "sub_user_limits": {"monthly_tokens": 5_000 * (j + 1)},
                "created_at": NOW - timedelta(days=50),
                "is_active": True,
            }
        )
        built.passwords[email] = f"sub password {j}"
    no_email = oid("um-bad-no-email")
    bad_hash = oid("um-bad-hash")
    gold = oid("um-bad-plan")
    users += [
        {"_id": no_email, "name": "Nobody", "password_hash": hashed("x"), "subscription": "free"},
        {"_id": bad_hash, "email": "plain@example.com", "password_hash": "hunter2",
         "subscription": "free"},
        {"_id": gold, "email": "gold@example.com", "password_hash": hashed("gold"),
         "subscription": "gold"},
    ]  # fmt: skip
    built.bad[f"user-management/users/{no_email}"] = "missing email"
    built.bad[f"user-management/users/{bad_hash}"] = "malformed password hash"
    built.bad[f"user-management/users/{gold}"] = "unknown plan 'gold'"
    ghost = oid("um-ghost")
    org_id = oid("um-org")
    organizations = [
        {
            "_id": org_id,
            "name": "Acme Dev",
            "subscription_tier": "enterprise",
            "owner_id": users[1]["_id"],
            "members": [users[1]["_id"], users[2]["_id"], users[4]["_id"], ghost],
            "created_at": NOW - timedelta(days=90),
        }
    ]
    built.bad[f"user-management/memberships/{org_id}:{ghost}"] = "dangling reference"
    models = [("gpt-4", "openai"), ("claude-3", "anthropic"), ("gpt-3.5-turbo", "openai")]
    usage: list[dict[str, Any]] = []
    for k in range(usage_rows):
        who = users[k % 20]
        model, provider = models[k % 3]
        prompt, completion = rng.randint(10, 900), rng.randint(5, 400)
        usage.append(
            {
                "_id": oid(f"um-usage-{k}"),
                "user_id": who["_id"],
                "model": model,
                "provider": provider,
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "cost_usd": round((prompt + completion) * 0.00002, 6),
                # Spread over the four months before the move.
                "created_at": NOW - timedelta(days=1 + (k % 120), minutes=k % 1440),
            }
        )
    dangling_usage = oid("um-usage-ghost")
    bad_cost = oid("um-usage-bad-cost")
    usage += [
        {"_id": dangling_usage, "user_id": ghost, "model": "gpt-4", "prompt_tokens": 1,
         "completion_tokens": 1, "created_at": NOW - timedelta(days=3)},
        {"_id": bad_cost, "user_id": users[5]["_id"], "model": "gpt-4", "prompt_tokens": 1,
         "completion_tokens": 1, "cost_usd": "abc", "created_at": NOW - timedelta(days=3)},
    ]  # fmt: skip
    built.bad[f"user-management/token_usage/{dangling_usage}"] = "dangling reference"
    built.bad[f"user-management/token_usage/{bad_cost}"] = "cost does not parse"
    _write_json(export / "users.json", users, CANONICAL)
    _write_json(export / "subscriptions.json", subscriptions, RELAXED)
    (export / "organizations.json").write_text(
        json_util.dumps(organizations, json_options=RELAXED)  # --jsonArray
    )
    _write_json(export / "token_usage.json", usage, RELAXED)
    built.mapping.write_text(
        "source: user-management\nshape: user-management\nformat: mongoexport\n"
        "export: ./user-management\nplans: {free: free, pro: pro, enterprise: enterprise}\n"
        "default_plan: free\ntokens_per_unit: 1\n"
    )
    built.facts = {
        "usage_rows": usage_rows,
        "pro_user": "um13@example.com",  # pro, active, cancels at the period's end, no org
        "pro_remaining": 1_000 + 37 * 13,
        "pro_user_usage": usage_rows // 20,
        "org_owner": "um1@example.com",
        "org_member": "um2@example.com",
        "org_name": "Acme Dev",
        "disabled": "um7@example.com",
        "sub_user": "um-sub0@example.com",
        "parent": "um0@example.com",
        "people": people + 3,
    }
    return built


def translation(root: Path) -> Built:
    """A mongodump directory: <out>/translation/<collection>.bson."""
    export = root / "translation-dump"
    db = export / "translation"
    db.mkdir(parents=True, exist_ok=True)
    built = Built(root / "translation.yaml")
    company = {
        "_id": oid("tr-company"),
        "company_id": "cmp_00123",
        "company_name": "Globex Translations",
        "created_at": NOW - timedelta(days=300),
    }
    company_users = []
    for i in range(6):
        email = f"tr{i}@globex.example.com"
        company_users.append(
            {
                "_id": oid(f"tr-cu-{i}"),
                "user_id": f"user_enterprise_{i:03}",
                "user_name": f"Globex {i}",
                "email": email,
                "company_id": company["_id"],
                "password_hash": hashed(f"globex secret {i}"),
                "permission_level": "admin" if i == 0 else "user",
                "status": "active",
                "created_at": NOW - timedelta(days=100),
            }
        )
        built.passwords[email] = f"globex secret {i}"
    individuals = []
    for i in range(4):
        individuals.append(
            {
                "_id": oid(f"tr-user-{i}"),
                "user_id": f"user_ind{i}",
                "user_name": f"Solo {i}",
                "email": f"solo{i}@example.org",
                "company_id": None,
                "permission_level": "user",
                "status": "active",
                "created_at": NOW - timedelta(days=40),
            }
        )
    duplicate = oid("tr-user-duplicate")
    individuals.append(
        {"_id": duplicate, "user_id": "user_dup", "user_name": "Twin", "email": "UM5@example.com",
         "company_id": None, "permission_level": "user", "status": "active"}
    )  # fmt: skip
    built.bad[f"translation/users/{duplicate}"] = "duplicate email"
    logins = [
        {"_id": oid(f"tr-login-{i}"), "user_name": f"solo{i}", "user_email": f"solo{i}@example.org",
         "password_hash": hashed(f"solo pass {i}"), "created_at": NOW - timedelta(days=40)}
        for i in range(2)
    ]  # fmt: skip
    for i in range(2):
        built.passwords[f"solo{i}@example.org"] = f"solo pass {i}"
    period_start = NOW - timedelta(days=10)
    subscriptions = [
        {
            "_id": oid("tr-sub"),
            "company_name": "Globex Translations",
            "subscription_unit": "page",
            "units_per_subscription": 1000,
            "price_per_unit": 0.01,
            "promotional_units": 100,
            "discount": 1.0,
            "subscription_price": 10.0,
            "start_date": NOW - timedelta(days=300),
            "end_date": NOW + timedelta(days=65),
            "status": "active",
            "usage_periods": [
                {"period_start": period_start - timedelta(days=30), "period_end": period_start,
                 "units_allocated": 1000, "units_used": 900, "units_remaining": 100,
                 "promotional_units": 0},
                {"period_start": period_start, "period_end": period_start + timedelta(days=30),
                 "units_allocated": 1000, "units_used": 350, "units_remaining": 650,
                 "promotional_units": 20},
            ],
        },
        {"_id": oid("tr-sub-orphan"), "company_name": "Initech", "subscription_unit": "page",
         "units_per_subscription": 1000, "status": "active", "start_date": NOW},
    ]  # fmt: skip
    built.bad[f"translation/subscriptions/{oid('tr-sub-orphan')}"] = "dangling reference"
    jobs = [
        {
            "_id": oid(f"tr-job-{k}"),
            "transaction_id": f"TXN-{k:06}",
            "user_id": f"tr{k % 6}@globex.example.com",
            "units_count": 3 + k % 20,
            "price_per_unit": 0.01,
            "total_price": round((3 + k % 20) * 0.01, 2),
            "status": "confirmed",
            "created_at": NOW - timedelta(days=5 + k * 3),
            "company_name": "Globex Translations",
            "subscription_id": oid("tr-sub"),
            "unit_type": "page",
        }
        for k in range(20)
    ]
    solo_jobs = [
        {
            "_id": oid(f"tr-solo-{k}"),
            "user_name": "Solo 0",
            "user_email": "solo0@example.org",
            "number_of_units": 10,
            "unit_type": "page",
            "cost_per_unit": 0.15,
            "total_cost": 1.5,
            "square_transaction_id": f"SQR-{k}",
            "date": NOW - timedelta(days=20 + k),
            "status": "completed",
            "square_payment_id": f"SQR-{k}",
            "amount_cents": 150,
            "currency": "USD",
            "payment_status": "COMPLETED",
            "refunds": [{"refund_id": "r1", "amount_cents": 50, "status": "COMPLETED"}]
            if k == 0
            else [],
            "payment_date": NOW - timedelta(days=20 + k),
        }
        for k in range(3)
    ]
    payments = [
        {"_id": oid(f"tr-pay-{k}"), "company_id": "cmp_00123",
         "company_name": "Globex Translations", "user_email": "tr0@globex.example.com",
         "square_payment_id": f"payment_sq_{k}",
         "amount": 1299, "currency": "USD", "payment_status": "COMPLETED", "refunds": [],
         "payment_date": NOW - timedelta(days=30 * (k + 1))}
        for k in range(2)
    ]  # fmt: skip
    bad_amount = oid("tr-pay-bad")
    payments.append(
        {"_id": bad_amount, "company_id": "cmp_00123", "amount": "12,99", "currency": "USD",
         "payment_status": "COMPLETED", "payment_date": NOW - timedelta(days=5)}
    )  # fmt: skip
    built.bad[f"translation/payments/{bad_amount}"] = "amount does not parse"
    invoices = [
        {"_id": oid(f"tr-inv-{k}"), "company_id": company["_id"], "subscription_id": oid("tr-sub"),
         "invoice_number": f"INV-2025-{k:03}", "invoice_date": NOW - timedelta(days=30 * (k + 1)),
         "due_date": NOW - timedelta(days=30 * k), "total_amount": 10.0, "tax_amount": 0.0,
         "status": "paid" if k else "sent"}
        for k in range(2)
    ]  # fmt: skip
    bad_invoice = oid("tr-inv-bad")
    invoices.append(
        {"_id": bad_invoice, "company_id": company["_id"], "invoice_number": "INV-X",
         "invoice_date": NOW, "total_amount": "n/a", "status": "sent"}
    )  # fmt: skip
    built.bad[f"translation/invoices/{bad_invoice}"] = "total_amount does not parse"
    for name, docs in {
        "company": [company],
        "company_users": company_users,
        "users": individuals,
        "users_login": logins,
        "subscriptions": subscriptions,
        "translation_transactions": jobs,
        "user_transactions": solo_jobs,
        "payments": payments,
        "invoices": invoices,
    }.items():
        (db / f"{name}.bson").write_bytes(b"".join(bson.encode(d) for d in docs))
    built.mapping.write_text(
        "source: translation\nshape: translation\nformat: mongodump\nexport: ./translation-dump\n"
        "plans: {page-1000: pro}\ndefault_plan: free\ntokens_per_unit: 1000\n"
        "model_name: translation\n"
    )
    built.facts = {
        "org_name": "Globex Translations",
        "owner": "tr0@globex.example.com",
        "remaining": (1000 - 350) * 1000,
        "promotional": 100 * 1000,
        "people": 6 + 4,
        "jobs": 20 + 3,
    }
    return built


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _copy_block(table: str, rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0])
    lines = [f"COPY public.{table} ({', '.join(columns)}) FROM stdin;"]
    lines += ["\t".join(_copy_value(r[c]) for c in columns) for r in rows]
    return "\n".join([*lines, "\\.", "", ""])


def supabase(root: Path, *, as_csv: bool = False) -> Built:
    """A plain pg_dump (COPY blocks), or one CSV file per table."""
    built = Built(root / ("supabase-csv.yaml" if as_csv else "supabase.yaml"))
    users = []
    for i in range(10):
        email = f"sb{i}@example.net"
        users.append(
            {
                "id": f"00000000-0000-4000-8000-{i:012}",
                "clerk_user_id": f"user_clerk{i}",
                "email": email,
                "full_name": f"Supa\tBase {i}" if i == 0 else f"Supa Base {i}",
                "password_hash": hashed(f"supa pass {i}", b"$2a$"),
                "email_verified": i % 2 == 0,
                "plan": ["free", "pro", "premium"][i % 3],
                "credits": 50 + i,
                "stripe_customer_id": f"cus_sb{i}" if i % 3 else None,
                "is_active": True,
                "created_at": NOW - timedelta(days=70 + i),
            }
        )
        built.passwords[email] = f"supa pass {i}"
    platinum = "00000000-0000-4000-8000-000000000099"
    users.append(
        {"id": platinum, "clerk_user_id": "user_p", "email": "platinum@example.net",
         "full_name": "P", "password_hash": hashed("p"), "email_verified": True,
         "plan": "platinum", "credits": 1, "stripe_customer_id": None, "is_active": True,
         "created_at": NOW}
    )  # fmt: skip
    built.bad[f"vscode-integration/users/{platinum}"] = "unknown plan 'platinum'"
    subscriptions = [
        {"id": "sub-row-1", "user_id": users[1]["id"], "plan": "pro", "status": "trialing",
         "stripe_subscription_id": "sub_sb1", "current_period_start": NOW - timedelta(days=3),
         "current_period_end": NOW + timedelta(days=11), "cancel_at_period_end": False},
    ]  # fmt: skip
    usage = [
        {"id": 1000 + k, "user_id": users[k % 10]["id"], "session_id": None,
         "model": "gpt-4o-mini", "provider": "openrouter", "prompt_tokens": 100 + k,
         "completion_tokens": 20, "total_tokens": 120 + k, "cost": "0.000150",
         "created_at": NOW - timedelta(days=35 + k % 30)}
        for k in range(50)
    ]  # fmt: skip
    credits = [
        {"id": 1, "user_id": users[2]["id"], "amount": 200, "transaction_type": "promotional",
         "expires_at": NOW + timedelta(days=60), "created_at": NOW - timedelta(days=2)},
        {"id": 2, "user_id": users[2]["id"], "amount": -30, "transaction_type": "usage",
         "expires_at": None, "created_at": NOW - timedelta(days=1)},
    ]  # fmt: skip
    tables = {
        "users": users,
        "subscriptions": subscriptions,
        "model_usage": usage,
        "credit_transactions": credits,
    }
    if as_csv:
        import csv

        folder = root / "supabase-csv"
        folder.mkdir(parents=True, exist_ok=True)
        for name, rows in tables.items():
            with (folder / f"{name}.csv").open("w", newline="") as out:
                writer = csv.DictWriter(out, fieldnames=list(rows[0]))
                writer.writeheader()
                for row in rows:
                    writer.writerow(
                        {k: ("" if v is None else (v.isoformat() if isinstance(v, datetime) else v))
                         for k, v in row.items()}
                    )  # fmt: skip
        export, kind = "./supabase-csv", "csv"
    else:
        dump = root / "supabase.sql"
        dump.write_text(
            "--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n\n"
            + "".join(_copy_block(name, rows) for name, rows in tables.items())
        )
        export, kind = "./supabase.sql", "pgdump"
    built.mapping.write_text(
        f"source: vscode-integration\nshape: supabase\nformat: {kind}\nexport: {export}\n"
        "plans: {free: free, pro: pro, premium: enterprise}\ndefault_plan: free\n"
        "tokens_per_unit: 100\n"
    )
    built.facts = {"people": 10, "usage_rows": 50, "promotional": 200 * 100}
    return built
