"""Signing in tells nobody which addresses have accounts, throttled or not."""

from __future__ import annotations

import statistics
import time
import uuid

import httpx
from journeys import register


async def attempts(gateway: httpx.AsyncClient, email: str, n: int) -> list[tuple[int, str, float]]:
    """(status, Retry-After, seconds) of ``n`` wrong passwords in a row."""
    seen = []
    for _ in range(n):
        started = time.perf_counter()
        answer = await gateway.post(
            "/api/auth/login-json", json={"email": email, "password": "not the password 1"}
        )
        took = time.perf_counter() - started
        seen.append((answer.status_code, answer.headers.get("Retry-After", ""), took))
    return seen


async def test_a_known_and_an_unknown_address_answer_alike_before_and_under_throttling(
    gateway: httpx.AsyncClient,
) -> None:
    known = (await register(gateway, "Known")).email
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"

    for_known = await attempts(gateway, known, 8)
    for_unknown = await attempts(gateway, unknown, 8)

    # The same answer on the same attempt: 401 until the lock, then 429 with one wait.
    assert [(s, r) for s, r, _ in for_known] == [(s, r) for s, r, _ in for_unknown]
    assert {s for s, _, _ in for_known} == {401, 429}
    # And alike in time: every wrong password costs one password check, every
    # throttled attempt none, whether the account exists or not.
    for status in (401, 429):
        a = statistics.median(t for s, _, t in for_known if s == status)
        b = statistics.median(t for s, _, t in for_unknown if s == status)
        assert max(a, b) < 2 * min(a, b) + 0.02, (status, a, b)
