"""Admission: one Redis round trip decides whether a request may pass.

The Lua script checks the revocation denylist, finds the caller's plan limit (the
account's plan from ``subscription.changed``, that plan's current limit from
``plan.updated``) and applies GCRA to the caller's bucket, all atomically, so N
concurrent requests against a limit of N let exactly N through.

GCRA with a burst of the whole window: a limit of L per minute lets L requests
through at once, then one more every 60/L seconds. Time comes from Redis, so
replicas with skewed clocks share one bucket correctly. A bucket keeps the interval
it was spaced at: when the limit changes (an upgrade, an admin's edit), the requests
it still counts are re-spaced at the new one, so someone who spent the free plan's
minute and upgrades has the new plan's room at once, not after that minute.

When Redis does not answer, general and LLM routes fall back to an in-process
limiter (per replica, with the token's plan) and auth endpoints are refused.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from tollgate.gateway import redis_keys
from tollgate.gateway.identity import Caller
from tollgate.gateway.revocations import LocalDenylist
from tollgate.gateway.script_channel import ScriptChannel
from tollgate.shared.plans import limits_for

__all__ = ["ADMIT_SCRIPT", "Admission", "Decision", "LocalLimiter"]

log = logging.getLogger("tollgate.gateway.admission")

WINDOW_MS = 60_000

# KEYS: bucket [, revoked user, revoked session, revoked key, org limits, user limits,
#        key scopes]
# ARGV: iat, default limit, limit field, window ms [, the key's scopes in its token,
#       the token's plan, the prefix of plan keys]
# -> {status (1 pass, 0 limited, -1 revoked or re-scoped), limit, remaining, reset ms,
#     retry ms}
# A key re-scoped since its token was minted answers -1 too: the caller drops the
# cached token and asks auth once more, as after a user-wide revocation.
ADMIT_SCRIPT = """
local limit = tonumber(ARGV[2])
if #KEYS > 1 then
  if KEYS[3] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then return {-1, 0, 0, 0, 0} end
  if KEYS[4] ~= '' and redis.call('EXISTS', KEYS[4]) == 1 then return {-1, 0, 0, 0, 0} end
  if KEYS[7] ~= '' then
    local scopes = redis.call('HGET', KEYS[7], 'scopes')
    if scopes and scopes ~= ARGV[5] then return {-1, 0, 0, 0, 0} end
  end
  local nb = redis.call('GET', KEYS[2])
  if nb and tonumber(ARGV[1]) <= tonumber(nb) then return {-1, 0, 0, 0, 0} end
  local account = KEYS[6]
  if KEYS[5] ~= '' and redis.call('EXISTS', KEYS[5]) == 1 then account = KEYS[5] end
  local plan = redis.call('HGET', account, 'plan') or ARGV[6]
  -- The plan's current limit (an admin's edit) before the one the account was given.
  local found = redis.call('HGET', ARGV[7] .. plan, ARGV[3])
  if not found then found = redis.call('HGET', account, ARGV[3]) end
  if found then limit = tonumber(found) end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if limit <= 0 then return {0, 0, 0, 0, tonumber(ARGV[4])} end
local interval = math.ceil(tonumber(ARGV[4]) / limit)
local burst = interval * limit
local tat = now
local kept = redis.call('GET', KEYS[1])
if kept then
  -- A bare time (a bucket written before buckets kept their interval) starts afresh.
  local t, was = string.match(kept, '^(%d+):(%d+)$')
  if t then
    tat = tonumber(t)
    was = tonumber(was)
    -- A plan change moves the limit, not the requests already made: what the bucket
    -- still counts is re-spaced at the interval in force now, and no request counts
    -- for longer than the window (a lowered limit leaves the bucket full, not more).
    if was ~= interval and tat > now then
      tat = now + math.min(math.ceil((tat - now) / was) * interval, burst)
    end
  end
end
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > burst then
  return {0, limit, 0, tat - now, new_tat - burst - now}
end
redis.call('SET', KEYS[1], string.format('%d:%d', new_tat, interval), 'PX', new_tat - now)
return {1, limit, math.floor((burst - (new_tat - now)) / interval), new_tat - now, 0}
"""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    policy: str
    limit: int
    remaining: int
    reset_ms: int
    retry_ms: int
    revoked: bool = False
    # Decided in-process because Redis did not answer.
    degraded: bool = False

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.retry_ms / 1000))

    def headers(self) -> dict[str, str]:
        reset = max(0, math.ceil(self.reset_ms / 1000))
        window = WINDOW_MS // 1000
        headers = {
            "RateLimit-Policy": f'"{self.policy}";q={self.limit};w={window}',
            "RateLimit": f'"{self.policy}";r={self.remaining};t={reset}',
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class LocalLimiter:
    """The same GCRA in process memory, for when Redis is away (limits per replica)."""

    def __init__(self, max_buckets: int = 100_000) -> None:
        self.max_buckets = max_buckets
        self._buckets: dict[str, tuple[int, int]] = {}  # key -> (tat, interval)

    def decide(self, key: str, limit: int, policy: str) -> Decision:
        now = int(time.time() * 1000)
        if limit <= 0:
            return Decision(False, policy, 0, 0, 0, WINDOW_MS, degraded=True)
        interval = math.ceil(WINDOW_MS / limit)
        burst = interval * limit
        tat, was = self._buckets.get(key, (now, interval))
        if was != interval and tat > now:  # re-spaced at the limit in force, as in Redis
            tat = now + min(math.ceil((tat - now) / was) * interval, burst)
        tat = max(tat, now)
        new_tat = tat + interval
        if new_tat - now > burst:
            return Decision(
                False, policy, limit, 0, tat - now, new_tat - burst - now, degraded=True
            )
        if len(self._buckets) >= self.max_buckets:
            self._buckets = {k: v for k, v in self._buckets.items() if v[0] > now}
        self._buckets[key] = (new_tat, interval)
        remaining = (burst - (new_tat - now)) // interval
        return Decision(True, policy, limit, remaining, new_tat - now, 0, degraded=True)


_LIMIT_FIELDS = {"general": "requests_per_minute", "llm": "llm_requests_per_minute"}


class Admission:
    def __init__(
        self,
        redis: ScriptChannel,
        denylist: LocalDenylist,
        *,
        auth_limit_per_ip: int,
        retry_seconds: float = 1.0,
    ) -> None:
        self.redis = redis
        self.denylist = denylist
        self.auth_limit_per_ip = auth_limit_per_ip
        self.retry_seconds = retry_seconds
        self.local = LocalLimiter()
        self._down_until = 0.0
        self.redis_error: str | None = None

    @property
    def redis_available(self) -> bool:
        return time.monotonic() >= self._down_until

    async def admit(self, caller: Caller, route_class: str) -> Decision:
        field = _LIMIT_FIELDS[route_class]
        plan_limit = int(limits_for(caller.plan)[field])  # type: ignore[literal-required]
        if self.denylist.is_revoked(caller):
            return Decision(False, route_class, plan_limit, 0, 0, 0, revoked=True)
        keys = [
            redis_keys.bucket(route_class, caller.rate_key),
            redis_keys.revoked_user(caller.user_id),
            redis_keys.revoked_session(caller.session_id) if caller.session_id else "",
            redis_keys.revoked_api_key(caller.api_key_id) if caller.api_key_id else "",
            redis_keys.plan_limits(caller.org_id) if caller.org_id else "",
            redis_keys.plan_limits(caller.parent_id or caller.user_id),
            redis_keys.api_key_scopes(caller.api_key_id) if caller.api_key_id else "",
        ]
        args = [
            caller.issued_at,
            plan_limit,
            field,
            WINDOW_MS,
            caller.scopes,
            caller.plan or "free",
            redis_keys.PLAN_PREFIX,
        ]
        result = await self._run(keys, args)
        if result is None:
            return self.local.decide(keys[0], plan_limit, route_class)
        return _decision(result, route_class)

    async def admit_ip(self, client_ip: str) -> Decision | None:
        """Auth endpoints per client IP; None when Redis is away (the caller refuses)."""
        keys = [redis_keys.bucket("auth", client_ip)]
        result = await self._run(keys, [0, self.auth_limit_per_ip, "", WINDOW_MS])
        return None if result is None else _decision(result, "auth")

    async def _run(self, keys: list[str], args: list[Any]) -> list[int] | None:
        if not self.redis_available:
            return None
        try:
            result: list[int] = await self.redis.evalsha(ADMIT_SCRIPT, keys, args)
        except (OSError, TimeoutError) as exc:
            self._down_until = time.monotonic() + self.retry_seconds
            if self.redis_error is None:
                log.error(
                    "Redis unreachable (%s): in-process rate limits for API routes, "
                    "auth endpoints refused, until it answers again",
                    exc,
                )
            self.redis_error = f"{type(exc).__name__}: {exc}"
            return None
        if self.redis_error is not None:
            log.warning("Redis answers again; shared rate limits resumed")
            self.redis_error = None
        return result


def _decision(result: list[int], policy: str) -> Decision:
    status, limit, remaining, reset_ms, retry_ms = (int(v) for v in result)
    if status < 0:
        return Decision(False, policy, limit, 0, 0, 0, revoked=True)
    return Decision(status == 1, policy, limit, remaining, reset_ms, retry_ms)
