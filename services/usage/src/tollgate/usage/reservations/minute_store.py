"""SQL for the tokens each reservation counts per minute (``minute_tokens``).

Written in the reservation group's transaction, after its accounts are locked, so
a group sees every count committed before it; corrected by settlement, release
and a lease's shrink under the same account locks.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import text

from tollgate.usage.ledger.store import Db, Pair
from tollgate.usage.reservations.minute_window import WINDOW, MinuteWindow

__all__ = ["correct", "count", "forget_older_than", "release", "shrink", "windows"]

_WINDOWS = text(
    """
    SELECT m.account_id, m.user_id, m.counted_at, m.tokens FROM minute_tokens m
    JOIN unnest(CAST(:accounts AS uuid[]), CAST(:users AS uuid[])) AS v(a, u)
      ON m.account_id = v.a AND m.user_id = v.u
    WHERE m.counted_at > :since
    ORDER BY m.counted_at
    """
)

_COUNT = text(
    """
    INSERT INTO minute_tokens (hold_id, account_id, user_id, tokens, counted_at)
    SELECT * FROM unnest(CAST(:holds AS uuid[]), CAST(:accounts AS uuid[]),
                         CAST(:users AS uuid[]), CAST(:tokens AS bigint[]),
                         CAST(:at AS timestamptz[]))
    ON CONFLICT (hold_id) DO NOTHING
    """
)

_CORRECT = text(
    """
    UPDATE minute_tokens SET tokens = v.tokens
    FROM unnest(CAST(:holds AS uuid[]), CAST(:tokens AS bigint[])) AS v(id, tokens)
    WHERE minute_tokens.hold_id = v.id
    """
)

_SHRINK = text("UPDATE minute_tokens SET tokens = least(tokens, :tokens) WHERE hold_id = :hold")

_FORGET = text("DELETE FROM minute_tokens WHERE counted_at <= :before")


async def windows(db: Db, pairs: Collection[Pair], now: datetime) -> dict[Pair, MinuteWindow]:
    """What each (account, user) counted in the minute before ``now``, oldest first."""
    found: dict[Pair, MinuteWindow] = {pair: MinuteWindow() for pair in pairs}
    if not pairs:
        return found
    ordered = sorted(pairs)
    params = {
        "accounts": [a for a, _ in ordered],
        "users": [u for _, u in ordered],
        "since": now - WINDOW,
    }
    for account_id, user_id, at, tokens in await db.execute(_WINDOWS, params):
        found[(account_id, user_id)].add(at, int(tokens))
    return found


async def count(db: Db, holds: Collection[tuple[uuid.UUID, Pair, int]], at: datetime) -> None:
    """Count new holds: (hold id, (account, user), raw tokens)."""
    if not holds:
        return
    rows = sorted(holds)
    await db.execute(
        _COUNT,
        {
            "holds": [h for h, _, _ in rows],
            "accounts": [p[0] for _, p, _ in rows],
            "users": [p[1] for _, p, _ in rows],
            "tokens": [n for _, _, n in rows],
            "at": [at] * len(rows),
        },
    )


async def correct(db: Db, tokens: Mapping[uuid.UUID, int]) -> None:
    """A settled hold counts what its call used instead of what it might have."""
    if tokens:
        ids = sorted(tokens)
        await db.execute(_CORRECT, {"holds": ids, "tokens": [tokens[i] for i in ids]})


async def release(db: Db, hold_id: uuid.UUID) -> None:
    """A hold given back without a token produced counts nothing."""
    await correct(db, {hold_id: 0})


async def shrink(db: Db, hold_id: uuid.UUID, tokens: int) -> None:
    """A lease counts no more than llm-proxy says its calls used or may still use."""
    await db.execute(_SHRINK, {"hold": hold_id, "tokens": tokens})


async def forget_older_than(db: Db, before: datetime) -> int:
    result = await db.execute(_FORGET, {"before": before})
    return int(getattr(result, "rowcount", 0) or 0)
