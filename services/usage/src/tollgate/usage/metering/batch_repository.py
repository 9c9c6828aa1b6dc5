"""Set-based statements for a batch of usage events: one round trip per step.

Each statement takes whole columns as arrays (``unnest``), so it is compiled
and prepared once and costs the same round trip for 1 row or 500.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "add_rollup",
    "create_accounts",
    "find_holds",
    "find_holds_by_request",
    "grants_of",
    "lock_accounts",
    "lock_holds",
    "open_holds_of",
    "record_usage",
    "recorded_requests",
    "set_grants_used",
    "settle_holds",
    "spend_entries",
    "sub_user_parents",
]

_RECORDED = text(
    "SELECT request_id FROM usage_records WHERE request_id = ANY(CAST(:ids AS varchar[]))"
)

_USAGE = text(
    """
    INSERT INTO usage_records (
        request_id, account_id, user_id, hold_id, api_key_id, session_id, model, provider,
        endpoint, feature, status, prompt_tokens, completion_tokens, total_tokens,
        charged_tokens, uncharged_tokens, cost_usd, latency_ms, ttft_ms, started_at)
    SELECT * FROM unnest(
        CAST(:request_id AS varchar[]), CAST(:account_id AS uuid[]), CAST(:user_id AS uuid[]),
        CAST(:hold_id AS uuid[]), CAST(:api_key_id AS uuid[]), CAST(:session_id AS uuid[]),
        CAST(:model AS varchar[]), CAST(:provider AS varchar[]), CAST(:endpoint AS varchar[]),
        CAST(:feature AS varchar[]), CAST(:status AS varchar[]), CAST(:prompt AS bigint[]),
        CAST(:completion AS bigint[]), CAST(:total AS bigint[]), CAST(:charged AS bigint[]),
        CAST(:uncharged AS bigint[]), CAST(:cost AS numeric[]), CAST(:latency AS integer[]),
        CAST(:ttft AS integer[]), CAST(:started_at AS timestamptz[])
    ) AS v(r)
    ON CONFLICT (request_id) DO NOTHING
    RETURNING 1
    """
)

_ACCOUNTS = text(
    """
    INSERT INTO accounts (id, kind, plan, monthly_tokens, period_start, period_end)
    SELECT a, 'user', 'free', :tokens, :start, :end FROM unnest(CAST(:ids AS uuid[])) AS a
    ORDER BY a
    ON CONFLICT (id) DO NOTHING
    RETURNING id
    """
)

_GRANTS_USED = text(
    """
    UPDATE grants SET used = v.used
    FROM unnest(CAST(:ids AS uuid[]), CAST(:used AS bigint[])) AS v(id, used)
    WHERE grants.id = v.id
    """
)

_SPEND = text(
    """
    INSERT INTO ledger_entries
        (account_id, grant_id, hold_id, request_id, kind, amount, occurred_at)
    SELECT a, g, h, r, 'spend', -amt, t
    FROM unnest(
        CAST(:account_id AS uuid[]), CAST(:grant_id AS uuid[]), CAST(:hold_id AS uuid[]),
        CAST(:request_id AS varchar[]), CAST(:amount AS bigint[]),
        CAST(:occurred_at AS timestamptz[])
    ) AS v(a, g, h, r, amt, t)
    """
)

_SETTLE = text(
    """
    UPDATE holds SET status = 'committed', committed_tokens = v.tokens, settled_at = :now
    FROM unnest(CAST(:ids AS uuid[]), CAST(:tokens AS bigint[])) AS v(id, tokens)
    WHERE holds.id = v.id
    """
)

_ROLLUP = text(
    """
    INSERT INTO daily_usage (day, account_id, user_id, model, provider, feature, requests,
        prompt_tokens, completion_tokens, total_tokens, charged_tokens, cost_usd)
    SELECT * FROM unnest(
        CAST(:day AS date[]), CAST(:account_id AS uuid[]), CAST(:user_id AS uuid[]),
        CAST(:model AS varchar[]), CAST(:provider AS varchar[]), CAST(:feature AS varchar[]),
        CAST(:requests AS bigint[]), CAST(:prompt AS bigint[]), CAST(:completion AS bigint[]),
        CAST(:total AS bigint[]), CAST(:charged AS bigint[]), CAST(:cost AS numeric[])
    )
    ON CONFLICT (day, account_id, user_id, model, provider, feature) DO UPDATE SET
        requests = daily_usage.requests + excluded.requests,
        prompt_tokens = daily_usage.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = daily_usage.completion_tokens + excluded.completion_tokens,
        total_tokens = daily_usage.total_tokens + excluded.total_tokens,
        charged_tokens = daily_usage.charged_tokens + excluded.charged_tokens,
        cost_usd = daily_usage.cost_usd + excluded.cost_usd
    """
)


# Reads take their keys as one array too (= ANY), never as IN (...) lists whose
# length would make a new statement text, and a new server-side plan, per batch size.
_FIND_HOLDS = text(
    "SELECT id, account_id, user_id, status, created_at FROM holds"
    " WHERE id = ANY(CAST(:ids AS uuid[]))"
)

_FIND_HOLDS_BY_REQUEST = text(
    "SELECT id, account_id, user_id, status, created_at, request_id FROM holds"
    " WHERE request_id = ANY(CAST(:ids AS varchar[]))"
)

_LOCK_ACCOUNTS = text(
    "SELECT id, monthly_tokens, period_start FROM accounts"
    " WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY id FOR UPDATE"
)

_LOCK_HOLDS = text(
    "SELECT id, account_id, user_id, status, created_at FROM holds"
    " WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY id FOR UPDATE"
)

_GRANTS = text(
    """
    SELECT account_id, id, amount, used, priority, starts_at, expires_at FROM grants
    WHERE account_id = ANY(CAST(:ids AS uuid[])) AND starts_at <= :now
      AND (expires_at IS NULL OR expires_at > :since)
    """
)

_OPEN_HOLDS = text(
    "SELECT account_id, id, amount FROM holds"
    " WHERE account_id = ANY(CAST(:ids AS uuid[])) AND status = 'held' AND expires_at > :now"
)

_PARENTS = text(
    "SELECT user_id, account_id FROM members"
    " WHERE user_id = ANY(CAST(:ids AS uuid[])) AND kind = 'sub_user'"
)


async def find_holds(session: AsyncSession, ids: list[uuid.UUID]) -> list[Any]:
    """Holds by id (id, account_id, user_id, status, created_at), unlocked."""
    return list((await session.execute(_FIND_HOLDS, {"ids": ids})).all())


async def find_holds_by_request(session: AsyncSession, request_ids: list[str]) -> list[Any]:
    """Holds by request_id (id, account_id, user_id, status, created_at, request_id)."""
    return list((await session.execute(_FIND_HOLDS_BY_REQUEST, {"ids": request_ids})).all())


async def lock_accounts(session: AsyncSession, ids: list[uuid.UUID]) -> list[Any]:
    """Lock accounts in id order (id, monthly_tokens, period_start)."""
    return list((await session.execute(_LOCK_ACCOUNTS, {"ids": sorted(ids)})).all())


async def lock_holds(session: AsyncSession, ids: list[uuid.UUID]) -> list[Any]:
    """Lock holds in id order, after their accounts (the order every writer keeps)."""
    return list((await session.execute(_LOCK_HOLDS, {"ids": sorted(ids)})).all())


async def grants_of(
    session: AsyncSession, account_ids: list[uuid.UUID], since: datetime, now: datetime
) -> list[Any]:
    """Grants started by ``now`` and alive at ``since``, with their account."""
    params = {"ids": account_ids, "since": since, "now": now}
    return list((await session.execute(_GRANTS, params)).all())


async def open_holds_of(
    session: AsyncSession, account_ids: list[uuid.UUID], now: datetime
) -> list[Any]:
    return list((await session.execute(_OPEN_HOLDS, {"ids": account_ids, "now": now})).all())


async def sub_user_parents(
    session: AsyncSession, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    rows = await session.execute(_PARENTS, {"ids": user_ids})
    return {user: parent for user, parent in rows.all()}


def _columns(rows: Sequence[Sequence[Any]], names: Sequence[str]) -> dict[str, list[Any]]:
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


async def recorded_requests(session: AsyncSession, request_ids: list[str]) -> set[str]:
    """Which of these calls already have their usage row."""
    rows = await session.execute(_RECORDED, {"ids": request_ids})
    return {r[0] for r in rows}


async def record_usage(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Insert usage rows (request_id order, one lock order for every batch); how many went in."""
    names = [
        "request_id", "account_id", "user_id", "hold_id", "api_key_id", "session_id", "model",
        "provider", "endpoint", "feature", "status", "prompt", "completion", "total", "charged",
        "uncharged", "cost", "latency", "ttft", "started_at",
    ]  # fmt: skip
    ordered = sorted(rows, key=lambda r: r["request_id"])
    result = await session.execute(_USAGE, {n: [r[n] for r in ordered] for n in names})
    return len(result.all())


async def create_accounts(
    session: AsyncSession,
    account_ids: list[uuid.UUID],
    tokens: int,
    start: datetime,
    end: datetime,
) -> set[uuid.UUID]:
    """Create the free accounts that do not exist yet; returns those created."""
    rows = await session.execute(
        _ACCOUNTS, {"ids": account_ids, "tokens": tokens, "start": start, "end": end}
    )
    return {r[0] for r in rows}


async def set_grants_used(session: AsyncSession, used: dict[uuid.UUID, int]) -> None:
    ids = sorted(used)
    await session.execute(_GRANTS_USED, {"ids": ids, "used": [used[i] for i in ids]})


async def spend_entries(
    session: AsyncSession,
    rows: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None, str, int, datetime]],
) -> None:
    names = ["account_id", "grant_id", "hold_id", "request_id", "amount", "occurred_at"]
    await session.execute(_SPEND, _columns(rows, names))


async def settle_holds(
    session: AsyncSession, committed: dict[uuid.UUID, int], now: datetime
) -> None:
    ids = sorted(committed)
    await session.execute(_SETTLE, {"ids": ids, "tokens": [committed[i] for i in ids], "now": now})


async def add_rollup(
    session: AsyncSession,
    rows: list[tuple[date, uuid.UUID, uuid.UUID, str, str, str, int, int, int, int, int, Decimal]],
) -> None:
    """Add to the rollup; keys must be distinct (sorted here: one lock order for every batch)."""
    names = [
        "day", "account_id", "user_id", "model", "provider", "feature", "requests", "prompt",
        "completion", "total", "charged", "cost",
    ]  # fmt: skip
    await session.execute(_ROLLUP, _columns(sorted(rows), names))
