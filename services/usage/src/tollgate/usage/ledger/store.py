"""The ledger store: the statements reservations and settlements are made of.

Every operation takes a whole group (accounts, holds, request_ids, usage rows) as
arrays (``= ANY``, ``unnest``), so a single request or event is a group of one
and each statement has one text whatever the group's size: SQLAlchemy compiles
it once and PostgreSQL prepares and plans it once per connection. Callers gather
facts here, decide in pure code (``reservations.decisions``,
``metering.decisions``), then write here.

One dialect: SQLAlchemy Core ``text()`` statements, run on an ``AsyncConnection``
(the reservation desk's own connection) or an ``AsyncSession`` (the ingestor's
transaction, which also writes the outbox through the shared helper). The bare
driver was measured cheaper: a group of 32 reservations, the same statements
each way, cost 1,500 to 2,500 µs of CPU on asyncpg against 2,500 to 3,500 µs
through SQLAlchemy (its greenlet switch and result object per statement), about
30 µs per reservation, within the noise of the service's 800 to 900 µs per
reservation and settlement (bench/usage). It would take a second way to reach
the database beside the sessions that the outbox, the inbox and every other
route use, and a transaction begun by SQLAlchemy's adapter and continued on the
driver behind its back; one way is worth the 30 µs.

Lock order, kept by every writer: accounts in id order, then holds in id order.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from tollgate.shared.messaging.events import UsageRecorded
from tollgate.usage.ledger.domain import Balance, GrantState, Price

__all__ = [
    "AccountRow",
    "Db",
    "HoldRow",
    "HoldsWritten",
    "LeaseDraw",
    "MemberRow",
    "SpendRow",
    "UsageRow",
    "balances",
    "commit_holds",
    "create_free_accounts",
    "delete_holds",
    "draw_leases",
    "grants_alive_since",
    "holds_by_id",
    "holds_by_request",
    "insert_holds",
    "live_accounts",
    "lock_accounts",
    "lock_holds",
    "member_spent",
    "memberships",
    "open_holds",
    "record_usage",
    "recorded_requests",
    "requests_since",
    "set_grants_used",
    "set_periods",
    "spend",
    "sub_user_parents",
]

Db = AsyncConnection | AsyncSession
Pair = tuple[uuid.UUID, uuid.UUID]  # (account, user)


class AccountRow(NamedTuple):
    id: uuid.UUID
    kind: str
    plan: str
    limits: dict[str, Any] | None
    monthly_tokens: int
    period_start: datetime
    period_end: datetime
    deleted_at: datetime | None
    # The end of a paid term (see models.Account.term_end); None on the free plan.
    term_end: datetime | None = None


class HoldRow(NamedTuple):
    id: uuid.UUID
    request_id: str
    account_id: uuid.UUID
    user_id: uuid.UUID
    model: str
    amount: int  # credits
    max_completion_tokens: int
    input_per_million: int
    output_per_million: int
    status: str
    created_at: datetime
    expires_at: datetime
    calls: int = 1  # requests counted for the daily quota
    # Set on a lease only (``models.Hold``): until when calls start from it, and its grant.
    lease_until: datetime | None = None
    lease_credits: int | None = None
    lease_tokens: int | None = None
    lease_calls: int | None = None
    lease_default_completion_tokens: int | None = None
    lease_tokens_per_minute: int | None = None
    lease_final: bool = False

    @property
    def price(self) -> Price:
        return Price(self.input_per_million, self.output_per_million)

    @property
    def is_lease(self) -> bool:
        return self.lease_until is not None


class LeaseDraw(NamedTuple):
    """What a batch of settled calls did to one open lease."""

    held: int  # credits it still holds
    charged: int  # what its calls were charged, added to its committed credits
    closes: bool  # shrunk final and nothing held: committed


class MemberRow(NamedTuple):
    account_id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    active: bool
    cap_tokens: int | None
    # A sub-user's permissions as its parent last set them; None: not restricted.
    permissions: list[str] | None


class SpendRow(NamedTuple):
    """A debit of one grant for one call."""

    account_id: uuid.UUID
    grant_id: uuid.UUID
    hold_id: uuid.UUID | None
    request_id: str
    amount: int
    occurred_at: datetime


class UsageRow(NamedTuple):
    """One metered call as llm-proxy reported it, who paid, the price it was charged at,
    what it cost and what of that was charged (the rest is recorded as uncharged)."""

    event: UsageRecorded
    account_id: uuid.UUID
    hold_id: uuid.UUID | None
    feature: str
    total_tokens: int
    input_per_million: int | None
    output_per_million: int | None
    cost_credits: int
    charged_credits: int


def _columns(rows: Sequence[Any], names: Iterable[str]) -> dict[str, list[Any]]:
    return {name: [getattr(row, name) for row in rows] for name in names}


# --- accounts ---------------------------------------------------------------------

_LOCK_ACCOUNTS = text(
    "SELECT id, kind, plan, limits, monthly_tokens, period_start, period_end, deleted_at,"
    " term_end"
    " FROM accounts WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY id FOR UPDATE"
)

_CREATE_FREE_ACCOUNTS = text(
    """
    INSERT INTO accounts (id, kind, plan, monthly_tokens, period_start, period_end)
    SELECT a, 'user', 'free', :tokens, :start, :end FROM unnest(CAST(:ids AS uuid[])) AS a
    ORDER BY a
    ON CONFLICT (id) DO NOTHING
    RETURNING id
    """
)

_SET_PERIODS = text(
    """
    UPDATE accounts SET period_start = v.s, period_end = v.e
    FROM unnest(CAST(:ids AS uuid[]), CAST(:starts AS timestamptz[]),
                CAST(:ends AS timestamptz[])) AS v(id, s, e)
    WHERE accounts.id = v.id
    """
)

_LIVE_ACCOUNTS = text(
    "SELECT id FROM accounts WHERE id = ANY(CAST(:ids AS uuid[])) AND deleted_at IS NULL"
)

_BALANCES = text(
    """
    SELECT a.id,
        (SELECT coalesce(sum(g.amount - g.used), 0) FROM grants g
         WHERE g.account_id = a.id AND g.starts_at <= :now
           AND (g.expires_at IS NULL OR g.expires_at > :now)) AS remaining,
        (SELECT coalesce(sum(h.amount), 0) FROM holds h
         WHERE h.account_id = a.id AND h.status = 'held' AND h.expires_at > :now) AS held
    FROM unnest(CAST(:ids AS uuid[])) AS a(id)
    """
)


async def lock_accounts(db: Db, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, AccountRow]:
    """Lock the accounts that exist, in id order (the order every writer keeps)."""
    if not ids:
        return {}
    rows = await db.execute(_LOCK_ACCOUNTS, {"ids": sorted(ids)})
    return {r.id: AccountRow(*r) for r in rows}


async def create_free_accounts(
    db: Db, ids: Collection[uuid.UUID], tokens: int, start: datetime, end: datetime
) -> set[uuid.UUID]:
    """Create, on the free plan, the user accounts that do not exist yet; returns those."""
    if not ids:
        return set()
    params = {"ids": sorted(ids), "tokens": tokens, "start": start, "end": end}
    return {r[0] for r in await db.execute(_CREATE_FREE_ACCOUNTS, params)}


async def set_periods(db: Db, periods: Mapping[uuid.UUID, tuple[datetime, datetime]]) -> None:
    ids = sorted(periods)
    params = {
        "ids": ids,
        "starts": [periods[i][0] for i in ids],
        "ends": [periods[i][1] for i in ids],
    }
    await db.execute(_SET_PERIODS, params)


async def live_accounts(db: Db, ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these accounts exist and are not deleted."""
    if not ids:
        return set()
    return {r[0] for r in await db.execute(_LIVE_ACCOUNTS, {"ids": list(ids)})}


async def balances(db: Db, ids: Sequence[uuid.UUID], now: datetime) -> dict[uuid.UUID, Balance]:
    """Each account's balance; read after its lock, it counts every hold committed before."""
    if not ids:
        return {}
    rows = await db.execute(_BALANCES, {"ids": list(ids), "now": now})
    return {r.id: Balance(int(r.remaining), int(r.held)) for r in rows}


# --- members ----------------------------------------------------------------------

_MEMBERSHIPS = text(
    """
    SELECT m.account_id, m.user_id, m.kind, m.active, m.cap_tokens, m.permissions
    FROM members m
    JOIN unnest(CAST(:accounts AS uuid[]), CAST(:users AS uuid[])) AS v(a, u)
      ON m.account_id = v.a AND m.user_id = v.u
    """
)

_SUB_USER_PARENTS = text(
    "SELECT user_id, account_id FROM members"
    " WHERE user_id = ANY(CAST(:ids AS uuid[])) AND kind = 'sub_user'"
)

# What a member's holds committed (a lease's calls commit while it is open, and stay
# committed when it expires), plus what their open holds still set aside.
_MEMBER_SPENT = text(
    """
    SELECT v.a, v.u,
        (SELECT coalesce(sum(h.committed_tokens), 0) FROM holds h
         WHERE h.account_id = v.a AND h.user_id = v.u AND h.created_at >= v.since
           AND h.committed_tokens IS NOT NULL)
      + (SELECT coalesce(sum(h.amount), 0) FROM holds h
         WHERE h.account_id = v.a AND h.user_id = v.u AND h.status = 'held'
           AND h.expires_at > :now)
    FROM unnest(CAST(:accounts AS uuid[]), CAST(:users AS uuid[]),
                CAST(:since AS timestamptz[])) AS v(a, u, since)
    """
)

_REQUESTS_SINCE = text(
    """
    SELECT h.account_id, h.user_id, sum(h.calls) FROM holds h
    JOIN unnest(CAST(:accounts AS uuid[]), CAST(:users AS uuid[])) AS v(a, u)
      ON h.account_id = v.a AND h.user_id = v.u
    WHERE h.created_at >= :since
    GROUP BY h.account_id, h.user_id
    """
)


def _pair_columns(pairs: Iterable[Pair]) -> dict[str, list[uuid.UUID]]:
    ordered = sorted(pairs)
    return {"accounts": [a for a, _ in ordered], "users": [u for _, u in ordered]}


async def memberships(db: Db, pairs: Collection[Pair]) -> dict[Pair, MemberRow]:
    """The memberships of these (account, user) pairs that exist."""
    if not pairs:
        return {}
    rows = await db.execute(_MEMBERSHIPS, _pair_columns(pairs))
    return {(r.account_id, r.user_id): MemberRow(*r) for r in rows}


async def sub_user_parents(db: Db, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """The parent account of each of these users that is a sub-user."""
    if not user_ids:
        return {}
    rows = await db.execute(_SUB_USER_PARENTS, {"ids": list(user_ids)})
    return {user: parent for user, parent in rows}


async def member_spent(db: Db, since: Mapping[Pair, datetime], now: datetime) -> dict[Pair, int]:
    """What each member has committed since the given moment (their account's period
    start) plus what their open holds set aside: what counts against a cap."""
    if not since:
        return {}
    pairs = sorted(since)
    params = {**_pair_columns(pairs), "since": [since[p] for p in pairs], "now": now}
    return {(a, u): int(n) for a, u, n in await db.execute(_MEMBER_SPENT, params)}


async def requests_since(db: Db, pairs: Collection[Pair], since: datetime) -> dict[Pair, int]:
    """Requests each member's reservations counted since ``since`` (the daily quota): one
    per hold, a lease's calls as last shrunk."""
    if not pairs:
        return {}
    rows = await db.execute(_REQUESTS_SINCE, {**_pair_columns(pairs), "since": since})
    return {(a, u): int(n) for a, u, n in rows}


# --- holds ------------------------------------------------------------------------

# Every column of ``HoldRow``, in its order.
_HOLDS_BY_REQUEST = text(
    "SELECT id, request_id, account_id, user_id, model, amount, max_completion_tokens,"
    " input_per_million, output_per_million, status, created_at, expires_at, calls,"
    " lease_until, lease_credits, lease_tokens, lease_calls, lease_default_completion_tokens,"
    " lease_tokens_per_minute, lease_final FROM holds"
    " WHERE request_id = ANY(CAST(:ids AS varchar[]))"
)
_HOLDS_BY_ID = text(
    "SELECT id, request_id, account_id, user_id, model, amount, max_completion_tokens,"
    " input_per_million, output_per_million, status, created_at, expires_at, calls,"
    " lease_until, lease_credits, lease_tokens, lease_calls, lease_default_completion_tokens,"
    " lease_tokens_per_minute, lease_final FROM holds"
    " WHERE id = ANY(CAST(:ids AS uuid[]))"
)
_LOCK_HOLDS = text(
    "SELECT id, request_id, account_id, user_id, model, amount, max_completion_tokens,"
    " input_per_million, output_per_million, status, created_at, expires_at, calls,"
    " lease_until, lease_credits, lease_tokens, lease_calls, lease_default_completion_tokens,"
    " lease_tokens_per_minute, lease_final FROM holds"
    " WHERE id = ANY(CAST(:ids AS uuid[]))"
    " ORDER BY id FOR UPDATE"
)

# The new holds go in, and in the same statement every other request_id of the group
# is looked up: those that already had a hold (a retried request) come back with it.
_INSERT_HOLDS = text(
    """
    WITH inserted AS (
        INSERT INTO holds (id, request_id, account_id, user_id, model, amount,
                           max_completion_tokens, input_per_million, output_per_million,
                           status, created_at, expires_at, calls, lease_until, lease_credits,
                           lease_tokens, lease_calls, lease_default_completion_tokens,
                           lease_tokens_per_minute)
        SELECT i, r, a, u, m, amt, mct, ip, op, 'held', :now, e, n, lu, lc, lt, ln, ld, lm
        FROM unnest(CAST(:id AS uuid[]), CAST(:request_id AS varchar[]),
                    CAST(:account_id AS uuid[]), CAST(:user_id AS uuid[]),
                    CAST(:model AS varchar[]), CAST(:amount AS bigint[]),
                    CAST(:max_completion_tokens AS bigint[]),
                    CAST(:input_per_million AS bigint[]), CAST(:output_per_million AS bigint[]),
                    CAST(:expires_at AS timestamptz[]), CAST(:calls AS integer[]),
                    CAST(:lease_until AS timestamptz[]), CAST(:lease_credits AS bigint[]),
                    CAST(:lease_tokens AS bigint[]), CAST(:lease_calls AS integer[]),
                    CAST(:lease_default_completion_tokens AS bigint[]),
                    CAST(:lease_tokens_per_minute AS bigint[]))
             AS v(i, r, a, u, m, amt, mct, ip, op, e, n, lu, lc, lt, ln, ld, lm)
        ORDER BY r
        ON CONFLICT (request_id) DO NOTHING
        RETURNING request_id
    )
    SELECT q.r, h.id, h.request_id, h.account_id, h.user_id, h.model, h.amount,
           h.max_completion_tokens, h.input_per_million, h.output_per_million, h.status,
           h.created_at, h.expires_at, h.calls, h.lease_until, h.lease_credits,
           h.lease_tokens, h.lease_calls, h.lease_default_completion_tokens,
           h.lease_tokens_per_minute, h.lease_final
    FROM unnest(CAST(:group AS varchar[])) AS q(r)
    LEFT JOIN holds h ON h.request_id = q.r
    WHERE q.r NOT IN (SELECT request_id FROM inserted)
    """
)

_DELETE_HOLDS = text("DELETE FROM holds WHERE id = ANY(CAST(:ids AS uuid[]))")

_OPEN_HOLDS = text(
    "SELECT account_id, id, amount FROM holds"
    " WHERE account_id = ANY(CAST(:ids AS uuid[])) AND status = 'held' AND expires_at > :now"
)

_COMMIT_HOLDS = text(
    """
    UPDATE holds SET status = 'committed', committed_tokens = v.tokens, settled_at = :now
    FROM unnest(CAST(:ids AS uuid[]), CAST(:tokens AS bigint[])) AS v(id, tokens)
    WHERE holds.id = v.id
    """
)


# A lease's calls settle while it stays open: it holds less, it has committed more, and
# once shrunk final with nothing left it is committed.
_DRAW_LEASES = text(
    """
    UPDATE holds SET amount = v.held,
        committed_tokens = coalesce(holds.committed_tokens, 0) + v.charged,
        status = CASE WHEN v.closes THEN 'committed' ELSE holds.status END,
        settled_at = CASE WHEN v.closes THEN :now ELSE holds.settled_at END
    FROM unnest(CAST(:ids AS uuid[]), CAST(:held AS bigint[]), CAST(:charged AS bigint[]),
                CAST(:closes AS boolean[])) AS v(id, held, charged, closes)
    WHERE holds.id = v.id
    """
)


async def holds_by_request(db: Db, request_ids: Collection[str]) -> dict[str, HoldRow]:
    if not request_ids:
        return {}
    rows = await db.execute(_HOLDS_BY_REQUEST, {"ids": list(request_ids)})
    return {r.request_id: HoldRow(*r) for r in rows}


async def holds_by_id(db: Db, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, HoldRow]:
    """Holds as they are now, unlocked (to learn which accounts to lock first)."""
    if not ids:
        return {}
    return {r.id: HoldRow(*r) for r in await db.execute(_HOLDS_BY_ID, {"ids": list(ids)})}


async def lock_holds(db: Db, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, HoldRow]:
    """Lock holds in id order, after their accounts."""
    if not ids:
        return {}
    return {r.id: HoldRow(*r) for r in await db.execute(_LOCK_HOLDS, {"ids": sorted(ids)})}


class HoldsWritten(NamedTuple):
    left_out: set[str]  # request_ids of the group whose new hold, if any, did not go in
    existing: dict[str, HoldRow]  # request_ids that already had a hold, with it


async def insert_holds(db: Db, holds: Sequence[HoldRow], group: Collection[str]) -> HoldsWritten:
    """Insert new holds (all created now) and look up the other request_ids of the
    ``group``: a request_id that already had a hold keeps it, and comes back with it.
    Only the request_ids without a new hold come back, so a group of new requests
    reads nothing.

    A hold committed by another transaction while this statement ran is neither
    inserted nor seen; ``holds_by_request`` finds it afterwards.
    """
    params = {
        **_columns(holds, HoldRow._fields),
        "now": holds[0].created_at if holds else None,
        "group": list(group),
    }
    written = HoldsWritten(set(), {})
    for request_id, *hold in await db.execute(_INSERT_HOLDS, params):
        written.left_out.add(request_id)
        if hold[0] is not None:
            written.existing[request_id] = HoldRow(*hold)
    return written


async def delete_holds(db: Db, ids: Collection[uuid.UUID]) -> None:
    """Take back holds this transaction inserted (never committed ones)."""
    if ids:
        await db.execute(_DELETE_HOLDS, {"ids": list(ids)})


async def open_holds(
    db: Db, account_ids: Collection[uuid.UUID], now: datetime
) -> dict[uuid.UUID, dict[uuid.UUID, int]]:
    """Each account's open holds (id → credits); a hold past its TTL no longer counts."""
    holds: dict[uuid.UUID, dict[uuid.UUID, int]] = {a: {} for a in account_ids}
    if account_ids:
        params = {"ids": list(account_ids), "now": now}
        for account_id, hold_id, amount in await db.execute(_OPEN_HOLDS, params):
            holds[account_id][hold_id] = amount
    return holds


async def commit_holds(db: Db, committed: Mapping[uuid.UUID, int], now: datetime) -> None:
    """Mark holds committed with the credits their call was charged."""
    if not committed:
        return
    ids = sorted(committed)
    params = {"ids": ids, "tokens": [committed[i] for i in ids], "now": now}
    await db.execute(_COMMIT_HOLDS, params)


async def draw_leases(db: Db, draws: Mapping[uuid.UUID, LeaseDraw], now: datetime) -> None:
    """Write what settled calls drew from their open leases."""
    if not draws:
        return
    ids = sorted(draws)
    params = {
        "ids": ids,
        "held": [draws[i].held for i in ids],
        "charged": [draws[i].charged for i in ids],
        "closes": [draws[i].closes for i in ids],
        "now": now,
    }
    await db.execute(_DRAW_LEASES, params)


# --- grants and spending ----------------------------------------------------------

_GRANTS_ALIVE_SINCE = text(
    """
    SELECT account_id, id, amount, used, priority, starts_at, expires_at FROM grants
    WHERE account_id = ANY(CAST(:ids AS uuid[])) AND starts_at <= :now
      AND (expires_at IS NULL OR expires_at > :since)
    """
)

_SET_GRANTS_USED = text(
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


async def grants_alive_since(
    db: Db, account_ids: Collection[uuid.UUID], since: datetime, now: datetime
) -> dict[uuid.UUID, dict[uuid.UUID, GrantState]]:
    """Each account's grants that had started by ``now`` and not expired at ``since``."""
    grants: dict[uuid.UUID, dict[uuid.UUID, GrantState]] = {a: {} for a in account_ids}
    if account_ids:
        params = {"ids": list(account_ids), "since": since, "now": now}
        for account_id, *columns in await db.execute(_GRANTS_ALIVE_SINCE, params):
            grant = GrantState(*columns)
            grants[account_id][grant.id] = grant
    return grants


async def set_grants_used(db: Db, used: Mapping[uuid.UUID, int]) -> None:
    """Write grants' new ``used``; absolute values, safe because their accounts are locked."""
    if not used:
        return
    ids = sorted(used)
    await db.execute(_SET_GRANTS_USED, {"ids": ids, "used": [used[i] for i in ids]})


async def spend(db: Db, rows: Sequence[SpendRow]) -> None:
    """The spend entries; the CHECK on grants.used already stopped any overdraft."""
    if not rows:
        return
    await db.execute(_SPEND, _columns(rows, SpendRow._fields))


# --- usage rows and the rollup ----------------------------------------------------

_RECORDED = text(
    "SELECT request_id FROM usage_records WHERE request_id = ANY(CAST(:ids AS varchar[]))"
)

# The usage rows and, from the very rows that went in, the daily rollup: the stats
# always add up to the raw rows. Text is cut to the columns' widths here. Both go in
# key order, one lock order for every batch.
_RECORD_USAGE = text(
    """
    WITH recorded AS (
        INSERT INTO usage_records (
            request_id, account_id, user_id, hold_id, api_key_id, session_id, model,
            provider, endpoint, feature, status, prompt_tokens, completion_tokens,
            total_tokens, charged_credits, uncharged_credits, input_per_million,
            output_per_million, cost_usd, latency_ms, ttft_ms, started_at)
        SELECT r, a, u, h, k, s, left(m, 200), left(p, 100), left(ep, 100), left(f, 100),
               left(st, 30), pt, ct, t, c, cc - c, ip, op, cost, lat, ttft, sa
        FROM unnest(
            CAST(:request_id AS varchar[]), CAST(:account_id AS uuid[]),
            CAST(:user_id AS uuid[]), CAST(:hold_id AS uuid[]), CAST(:api_key_id AS uuid[]),
            CAST(:session_id AS uuid[]), CAST(:model AS varchar[]),
            CAST(:provider AS varchar[]), CAST(:endpoint AS varchar[]),
            CAST(:feature AS varchar[]), CAST(:status AS varchar[]),
            CAST(:prompt_tokens AS bigint[]), CAST(:completion_tokens AS bigint[]),
            CAST(:total_tokens AS bigint[]), CAST(:charged_credits AS bigint[]),
            CAST(:cost_credits AS bigint[]), CAST(:input_per_million AS bigint[]),
            CAST(:output_per_million AS bigint[]),
            CAST(:cost_usd AS numeric[]), CAST(:latency_ms AS integer[]),
            CAST(:ttft_ms AS integer[]), CAST(:started_at AS timestamptz[])
        ) AS v(r, a, u, h, k, s, m, p, ep, f, st, pt, ct, t, c, cc, ip, op, cost, lat, ttft, sa)
        ORDER BY r
        ON CONFLICT (request_id) DO NOTHING
        RETURNING account_id, user_id, model, provider, feature, started_at, prompt_tokens,
                  completion_tokens, total_tokens, charged_credits, cost_usd
    ), rolled_up AS (
        INSERT INTO daily_usage (day, account_id, user_id, model, provider, feature,
            requests, prompt_tokens, completion_tokens, total_tokens, charged_credits, cost_usd)
        SELECT (started_at AT TIME ZONE 'UTC')::date, account_id, user_id, model, provider,
               feature, count(*), sum(prompt_tokens), sum(completion_tokens),
               sum(total_tokens), sum(charged_credits), sum(cost_usd)
        FROM recorded
        GROUP BY 1, 2, 3, 4, 5, 6
        ORDER BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (day, account_id, user_id, model, provider, feature) DO UPDATE SET
            requests = daily_usage.requests + excluded.requests,
            prompt_tokens = daily_usage.prompt_tokens + excluded.prompt_tokens,
            completion_tokens = daily_usage.completion_tokens + excluded.completion_tokens,
            total_tokens = daily_usage.total_tokens + excluded.total_tokens,
            charged_credits = daily_usage.charged_credits + excluded.charged_credits,
            cost_usd = daily_usage.cost_usd + excluded.cost_usd
    )
    SELECT count(*) FROM recorded
    """
)
_EVENT_COLUMNS = [
    "request_id", "user_id", "api_key_id", "session_id", "model", "provider", "endpoint",
    "status", "prompt_tokens", "completion_tokens", "cost_usd", "latency_ms", "ttft_ms",
    "started_at",
]  # fmt: skip
_CALL_COLUMNS = [
    "account_id", "hold_id", "feature", "total_tokens", "input_per_million",
    "output_per_million", "cost_credits", "charged_credits",
]  # fmt: skip


async def recorded_requests(db: Db, request_ids: Collection[str]) -> set[str]:
    """Which of these calls already have their usage row."""
    if not request_ids:
        return set()
    return {r[0] for r in await db.execute(_RECORDED, {"ids": list(request_ids)})}


async def record_usage(db: Db, rows: Sequence[UsageRow]) -> int:
    """Insert the calls' usage rows and add them to the daily rollup; how many went in
    (a request_id already recorded is left as it was)."""
    if not rows:
        return 0
    params = {
        **_columns([r.event for r in rows], _EVENT_COLUMNS),
        **_columns(rows, _CALL_COLUMNS),
    }
    recorded: int = (await db.execute(_RECORD_USAGE, params)).scalar_one()
    return recorded
