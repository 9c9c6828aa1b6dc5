"""Migration 0007 (tokens become credits): what anyone could spend on the reference
model is what they can spend after it.

The migrations run for real, in a schema of their own inside one transaction that is
rolled back at the end, so the shared test database is left as it was.
"""

from __future__ import annotations

import importlib.util
import uuid
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine
from usage_harness import DATABASE_URL, SERVICE_DIR

from tollgate.usage.ledger.domain import InsufficientTokens, Price, size_hold

BEFORE = [
    "0001_outbox_and_inbox",
    "0002_ledger_holds_usage_and_rollups",
    "0003_index_daily_usage_by_user_and_day",
    "0004_member_permissions_and_fact_time",
    "0005_yearly_terms",
    "0006_top_ups",
    "0007_plan_catalog_minute_tokens",
    "0008_daily_usage_account_day",
]
NOW = datetime.now(UTC)
ACCOUNT, MEMBER = uuid.uuid4(), uuid.uuid4()


def migration(name: str) -> ModuleType:
    path = SERVICE_DIR / "migrations" / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"usage_migration_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def a_balance_in_tokens(conn: Connection) -> None:
    """An account on a 5,000-token plan: 1,200 spent, 300 held, a member capped at 2,000."""
    start, end = NOW - timedelta(days=1), NOW + timedelta(days=29)
    statements = [
        "INSERT INTO accounts (id, kind, plan, monthly_tokens, period_start, period_end)"
        " VALUES (:account, 'user', 'pro', 5000, :start, :end)",
        "INSERT INTO grants (id, account_id, source, amount, used, priority, starts_at,"
        " expires_at, period_start)"
        " VALUES (gen_random_uuid(), :account, 'plan', 5000, 1200, 0, :start, :end, :start)",
        "INSERT INTO holds (id, request_id, account_id, user_id, model, amount,"
        " max_completion_tokens, status, created_at, expires_at) VALUES (gen_random_uuid(),"
        " 'old-hold', :account, :account, 'gpt-4o', 300, 200, 'held', :start, :end)",
        "INSERT INTO members (account_id, user_id, kind, cap_tokens)"
        " VALUES (:account, :member, 'sub_user', 2000)",
    ]
    params = {"account": ACCOUNT, "member": MEMBER, "start": start, "end": end}
    for statement in statements:
        conn.execute(text(statement), params)


def figures(conn: Connection) -> dict[str, Any]:
    def one(sql: str) -> Any:
        return conn.exec_driver_sql(sql).scalar_one()

    return {
        "available": one("SELECT sum(amount - used) FROM grants")
        - one("SELECT sum(amount) FROM holds WHERE status = 'held'"),
        "allocation": one("SELECT monthly_tokens FROM accounts"),
        "cap": one("SELECT cap_tokens FROM members"),
        "held": one("SELECT amount FROM holds"),
    }


def migrate_with_a_balance(conn: Connection) -> tuple[dict[str, Any], dict[str, Any]]:
    conn.exec_driver_sql("CREATE SCHEMA credits_migration_check")
    conn.exec_driver_sql("SET LOCAL search_path TO credits_migration_check")
    with Operations.context(MigrationContext.configure(conn)):
        for name in BEFORE:
            migration(name).upgrade()
        a_balance_in_tokens(conn)
        before = figures(conn)
        migration("0009_model_prices").upgrade()
    after = figures(conn)
    after["reference"] = conn.exec_driver_sql(
        "SELECT input_per_million, output_per_million FROM model_prices WHERE model = 'gpt-4o-mini'"
    ).one()
    after["old_hold_price"] = conn.exec_driver_sql(
        "SELECT input_per_million, output_per_million FROM holds"
    ).one()
    return before, after


async def test_what_anyone_could_spend_on_the_reference_model_is_unchanged_by_the_migration() -> (
    None
):
    engine = create_async_engine(DATABASE_URL)
    try:
        async with engine.connect() as conn:
            before, after = await conn.run_sync(migrate_with_a_balance)
            await conn.rollback()
    finally:
        await engine.dispose()

    reference = Price(*after["reference"])
    assert reference == Price(1_000_000, 1_000_000)
    assert (
        {k: after[k] for k in before}
        == before
        == {
            "available": 3_500,
            "allocation": 5_000,
            "cap": 2_000,
            "held": 300,
        }
    )
    # Exactly the balance's worth of reference-model tokens fits, and not one more.
    fits = size_hold(reference, 3_000, 500, available=after["available"], default_completion_cap=1)
    assert fits.held_credits == 3_500
    with pytest.raises(InsufficientTokens):
        size_hold(reference, 3_000, 501, available=after["available"], default_completion_cap=1)
    # A hold made in tokens settles a credit a token.
    assert tuple(after["old_hold_price"]) == (1_000_000, 1_000_000)
