"""Login throttling in Redis: per account and per client address, with exponential backoff.

Failures are counted in a sliding-ish window (the counter expires ``window`` seconds
after the first failure). From the ``threshold``-th failure on, the account (or
address) is locked for ``base * 2**(failures - threshold)`` seconds, capped. Unknown
emails are counted exactly like known ones, so the throttle reveals nothing.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from redis.asyncio import Redis

from tollgate.shared.errors import TooManyRequests

PREFIX = "auth:throttle"


@dataclass(frozen=True)
class ThrottlePolicy:
    window: int
    account_threshold: int
    ip_threshold: int
    base_delay: int
    max_delay: int


def account_key(email: str) -> str:
    # Hash the address: Redis needs no personal data to count failures.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def backoff_seconds(failures: int, threshold: int, base: int, cap: int) -> int:
    if failures < threshold:
        return 0
    return int(min(cap, base * 2 ** min(failures - threshold, 20)))


class LoginThrottle:
    def __init__(self, redis: Redis, policy: ThrottlePolicy, *, prefix: str = PREFIX) -> None:
        self.redis = redis
        self.policy = policy
        self.prefix = prefix

    def _subjects(self, email: str, ip: str | None) -> list[tuple[str, int]]:
        subjects = [(f"acct:{account_key(email)}", self.policy.account_threshold)]
        if ip:
            subjects.append((f"ip:{ip}", self.policy.ip_threshold))
        return subjects

    async def check(self, email: str, ip: str | None) -> None:
        """Raise 429 with Retry-After while the account or the address is locked."""
        for subject, _ in self._subjects(email, ip):
            ttl_ms = await self.redis.pttl(f"{self.prefix}:lock:{subject}")
            if ttl_ms > 0:
                raise TooManyRequests(
                    "Too many failed attempts; try again later",
                    type_slug="login-throttled",
                    retry_after=math.ceil(ttl_ms / 1000),
                )

    async def record_failure(self, email: str, ip: str | None) -> None:
        p = self.policy
        for subject, threshold in self._subjects(email, ip):
            counter = f"{self.prefix}:fail:{subject}"
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(counter)
                pipe.expire(counter, p.window, nx=True)
                failures, _ = await pipe.execute()
            delay = backoff_seconds(int(failures), threshold, p.base_delay, p.max_delay)
            if delay:
                await self.redis.set(f"{self.prefix}:lock:{subject}", "1", ex=delay)

    async def record_success(self, email: str) -> None:
        subject = f"acct:{account_key(email)}"
        await self.redis.delete(f"{self.prefix}:fail:{subject}", f"{self.prefix}:lock:{subject}")
