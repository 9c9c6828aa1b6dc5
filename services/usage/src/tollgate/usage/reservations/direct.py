"""Reservations of plain users in a few fixed statements, straight on the driver.

Almost every reservation is a user spending from their own account, whose period
is current and whose request_id is new. For a group made only of those, the
facts ``decisions.decide`` needs come from three statements that take whole
groups as arrays (so they are parsed and planned once per connection, whatever
the group's size), with no ORM objects in between: the account locks (id order,
as everywhere), then — in a statement of its own, so it sees every hold committed
before the locks were granted — the balances, then the insert of the new holds.

Anything else (an organization member, a sub-user, an account not created yet, a
free period to renew, a retried request_id) makes ``reserve_plain`` answer None
before anything is written, and the group goes the general way (``batch``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from tollgate.shared.errors import TollgateError
from tollgate.usage.config import Settings
from tollgate.usage.reservations.decisions import Answer, Ask, Target, daily_limit, decide

__all__ = ["is_plain", "reserve_plain"]

_LOCK = """
SELECT id, plan, limits::text AS limits, period_end, deleted_at
FROM accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE
"""

_BALANCES = """
SELECT a.id,
    (SELECT coalesce(sum(g.amount - g.used), 0) FROM grants g
     WHERE g.account_id = a.id AND g.starts_at <= $2
       AND (g.expires_at IS NULL OR g.expires_at > $2)) AS remaining,
    (SELECT coalesce(sum(h.amount), 0) FROM holds h
     WHERE h.account_id = a.id AND h.status = 'held' AND h.expires_at > $2) AS held
FROM unnest($1::uuid[]) AS a(id)
"""

_MADE_SINCE = """
SELECT h.account_id, count(*) FROM holds h
WHERE h.account_id = ANY($1::uuid[]) AND h.user_id = h.account_id AND h.created_at >= $2
GROUP BY h.account_id
"""

_ANY_HOLD = "SELECT EXISTS (SELECT 1 FROM holds WHERE request_id = ANY($1::varchar[]))"

_INSERT = """
INSERT INTO holds (id, request_id, account_id, user_id, model, amount, max_completion_tokens,
                   status, created_at, expires_at)
SELECT i, r, a, a, m, amt, mct, 'held', $8, e
FROM unnest($1::uuid[], $2::varchar[], $3::uuid[], $4::varchar[], $5::bigint[], $6::bigint[],
            $7::timestamptz[]) AS v(i, r, a, m, amt, mct, e)
ORDER BY r
ON CONFLICT (request_id) DO NOTHING
"""


@dataclass(frozen=True)
class _Account:
    id: uuid.UUID
    plan: str
    limits: dict[str, Any] | None
    deleted_at: datetime | None


class _Retried(Exception):
    """A request_id of the group already has a hold: roll back and answer it the general way."""


def is_plain(ask: Ask) -> bool:
    caller = ask.caller
    return caller.org is None and (caller.parent is None or caller.parent == caller.sub)


async def reserve_plain(
    connection: asyncpg.Connection, settings: Settings, asks: list[Ask]
) -> list[Answer] | None:
    """Answers for a group of plain users' asks, or None if the group needs the general way."""
    request_ids = [a.request.request_id for a in asks]
    if len(set(request_ids)) != len(request_ids) or not all(is_plain(a) for a in asks):
        return None
    try:
        async with connection.transaction():
            return await _reserve(connection, settings, asks)
    except _Retried:
        return None


async def _reserve(
    connection: asyncpg.Connection, settings: Settings, asks: list[Ask]
) -> list[Answer] | None:
    now = datetime.now(UTC)
    wanted = sorted({a.caller.user_id for a in asks})
    rows = await connection.fetch(_LOCK, wanted)
    if len(rows) != len(wanted):
        raise _Retried  # an account to create first: the general way does that
    accounts: dict[uuid.UUID, _Account] = {}
    for row in rows:
        if row["plan"] == "free" and row["period_end"] <= now:
            raise _Retried  # a free period to renew first
        limits = json.loads(row["limits"]) if row["limits"] else None
        account = _Account(row["id"], row["plan"], limits, row["deleted_at"])
        accounts[account.id] = account
    # asyncpg's UUIDs are uuid.UUIDs (same hash, equal), so they key these dicts as they are.
    balance = {
        r["id"]: int(r["remaining"]) - int(r["held"])
        for r in await connection.fetch(_BALANCES, wanted, now)
    }
    made_today: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    counted = [a for a in wanted if daily_limit(accounts[a]) is not None]
    if counted:
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        for account_id, count in await connection.fetch(_MADE_SINCE, counted, midnight):
            made_today[(account_id, account_id)] = int(count)
    targets = [Target(a.caller.user_id, None) for a in asks]
    decisions = decide(settings, asks, targets, dict(accounts), balance, made_today, {}, {}, now)
    refused = [
        a.request.request_id
        for a, r in zip(asks, decisions.answers, strict=True)
        if isinstance(r, TollgateError)
    ]
    if refused and await connection.fetchval(_ANY_HOLD, refused):
        raise _Retried  # a retry of a request granted before gets its hold back, not a refusal
    holds = decisions.new_holds
    if holds:
        status = await connection.execute(
            _INSERT,
            [h["id"] for h in holds],
            [h["request_id"] for h in holds],
            [h["account_id"] for h in holds],
            [h["model"] for h in holds],
            [h["amount"] for h in holds],
            [h["max_completion_tokens"] for h in holds],
            [h["expires_at"] for h in holds],
            now,
        )
        if int(status.rsplit(" ", 1)[-1]) != len(holds):
            raise _Retried
    return decisions.complete(asks)
