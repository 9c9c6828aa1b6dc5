"""Revoked sessions, users and API keys, re-scoped keys, plan limits: what events write.

Plan limits come two ways: each account's plan (and the limits it had then) from
``subscription.changed``, and each plan's current limits from ``plan.updated``;
the admission script prefers the plan's, so an admin's edit reaches every
account on it at once.

Redis holds the shared truth that every replica's admission script reads. The
replica that consumed an event also keeps a copy in memory, so its own decisions
stay right while Redis is away.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from tollgate.gateway import redis_keys
from tollgate.shared.plans import limits_for

if TYPE_CHECKING:
    from tollgate.gateway.identity import Caller

__all__ = ["LocalDenylist", "PlanLimitStore", "RevocationStore"]

# Keeps the higher not_before when two revocations of one user arrive out of order.
_RAISE_NOT_BEFORE = """
local old = redis.call('GET', KEYS[1])
if (not old) or tonumber(old) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""

# Records a key's new scopes unless a later change (changed_at, epoch ms) is stored.
_SET_KEY_SCOPES = """
local at = redis.call('HGET', KEYS[1], 'changed_at')
if at and tonumber(at) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'changed_at', ARGV[1], 'scopes', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

# Applies a plan change unless a later one (higher sequence) is already stored.
_SET_PLAN_LIMITS = """
local seq = redis.call('HGET', KEYS[1], 'sequence')
if seq and tonumber(seq) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'sequence', ARGV[1], 'plan', ARGV[2],
  'requests_per_minute', ARGV[3], 'llm_requests_per_minute', ARGV[4])
return 1
"""


# Applies a plan's edit unless a later version is already stored.
_SET_PLAN = """
local version = redis.call('HGET', KEYS[1], 'version')
if version and tonumber(version) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1],
  'requests_per_minute', ARGV[2], 'llm_requests_per_minute', ARGV[3])
return 1
"""


class LocalDenylist:
    """This replica's memory of revocations, bounded by their expiry."""

    def __init__(self) -> None:
        self._sessions: dict[str, float] = {}
        self._users: dict[str, tuple[int, float]] = {}
        self._keys: dict[str, float] = {}
        # key id -> (changed_at ms, canonical scopes, expiry)
        self._key_scopes: dict[str, tuple[int, str, float]] = {}

    def is_revoked(self, caller: Caller) -> bool:
        """Revoked, or (for an API key) minted with scopes the key no longer has."""
        if not (self._sessions or self._users or self._keys or self._key_scopes):
            return False
        now = time.time()
        if caller.session_id and self._sessions.get(caller.session_id, 0) > now:
            return True
        if caller.api_key_id and self._keys.get(caller.api_key_id, 0) > now:
            return True
        rescoped = self._key_scopes.get(caller.api_key_id or "")
        if rescoped is not None and rescoped[2] > now and rescoped[1] != caller.scopes:
            return True
        entry = self._users.get(caller.user_id)
        return entry is not None and entry[1] > now and caller.issued_at <= entry[0]

    def revoke_session(self, session_id: str, ttl: int) -> None:
        self._sweep()
        self._sessions[session_id] = time.time() + ttl

    def revoke_user(self, user_id: str, not_before: int, ttl: int) -> None:
        self._sweep()
        previous = self._users.get(user_id)
        if previous is None or previous[0] < not_before:
            self._users[user_id] = (not_before, time.time() + ttl)

    def revoke_api_key(self, key_id: str, ttl: int) -> None:
        self._sweep()
        self._keys[key_id] = time.time() + ttl

    def change_api_key_scopes(self, key_id: str, changed_at: int, scopes: str, ttl: int) -> None:
        self._sweep()
        previous = self._key_scopes.get(key_id)
        if previous is None or previous[0] < changed_at:
            self._key_scopes[key_id] = (changed_at, scopes, time.time() + ttl)

    def _sweep(self) -> None:
        now = time.time()
        self._key_scopes = {k: v for k, v in self._key_scopes.items() if v[2] > now}
        self._sessions = {k: v for k, v in self._sessions.items() if v > now}
        self._keys = {k: v for k, v in self._keys.items() if v > now}
        self._users = {k: v for k, v in self._users.items() if v[1] > now}


class RevocationStore:
    def __init__(self, redis: Redis, local: LocalDenylist, ttl: int) -> None:
        self.redis = redis
        self.local = local
        # Longer than any access token lives: after that, the token is refused anyway.
        self.ttl = ttl
        self._raise: Any = redis.register_script(_RAISE_NOT_BEFORE)
        self._set_scopes: Any = redis.register_script(_SET_KEY_SCOPES)

    async def revoke_sessions(
        self, user_id: str, session_id: str | None, not_before_epoch: float
    ) -> None:
        if session_id is not None:
            self.local.revoke_session(session_id, self.ttl)
            await self.redis.set(redis_keys.revoked_session(session_id), 1, ex=self.ttl)
            return
        # Whole seconds, as in a token's iat. A user-wide revocation means the account
        # was disabled or deleted, so a token issued in the revocation's own second is
        # refused too: it may have been minted just before. (Password changes revoke
        # sessions one by one and never reach this branch.)
        not_before = math.floor(not_before_epoch)
        self.local.revoke_user(user_id, not_before, self.ttl)
        await self._raise(keys=[redis_keys.revoked_user(user_id)], args=[not_before, self.ttl])

    async def revoke_api_key(self, key_id: str) -> None:
        self.local.revoke_api_key(key_id, self.ttl)
        await self.redis.set(redis_keys.revoked_api_key(key_id), 1, ex=self.ttl)

    async def change_api_key_scopes(self, key_id: str, scopes: str, changed_at_ms: int) -> bool:
        """Tokens of the key minted with other scopes are refused from now on (every
        replica: the admission script compares); False if a later change was stored."""
        self.local.change_api_key_scopes(key_id, changed_at_ms, scopes, self.ttl)
        applied = await self._set_scopes(
            keys=[redis_keys.api_key_scopes(key_id)], args=[changed_at_ms, scopes, self.ttl]
        )
        return bool(applied)


class PlanLimitStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._set: Any = redis.register_script(_SET_PLAN_LIMITS)
        self._set_plan: Any = redis.register_script(_SET_PLAN)

    async def apply(
        self, account_id: str, plan: str, limits: dict[str, Any], sequence: int
    ) -> bool:
        """Store the account's limits; False if a later change was already applied."""
        defaults = limits_for(plan)
        general = int(limits.get("requests_per_minute") or defaults["requests_per_minute"])
        llm = int(limits.get("llm_requests_per_minute") or defaults["llm_requests_per_minute"])
        applied = await self._set(
            keys=[redis_keys.plan_limits(account_id)], args=[sequence, plan, general, llm]
        )
        return bool(applied)

    async def apply_plan(self, code: str, limits: dict[str, Any], version: int) -> bool:
        """Store a plan's current request limits; False if a later version is stored."""
        defaults = limits_for(code)
        general = int(limits.get("requests_per_minute") or defaults["requests_per_minute"])
        llm = int(limits.get("llm_requests_per_minute") or defaults["llm_requests_per_minute"])
        applied = await self._set_plan(keys=[redis_keys.plan(code)], args=[version, general, llm])
        return bool(applied)
