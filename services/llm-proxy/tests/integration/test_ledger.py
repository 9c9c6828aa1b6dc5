"""After many mixed calls with injected failures, usage's ledger matches the upstreams exactly."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter

import httpx
from llm_helpers import chat
from llm_stack import Stack

# (name, model, stream, directives); weights below keep failures frequent but not dominant.
SCENARIOS = [
    ("plain", "gpt-test", False, ""),
    ("stream", "gpt-test", True, ""),
    ("failover", "gpt-test", False, "[[fail:alpha:503]]"),
    ("stream failover", "gpt-test", True, "[[fail:alpha:500]]"),
    ("rate-limited failover", "gpt-test", True, "[[fail:alpha:429]]"),
    ("broken first event", "gpt-test", True, "[[firstbreak:alpha]]"),
    ("nobody answers", "gpt-test", False, "[[fail:alpha:503,beta:503]]"),
    ("cut mid-stream", "gpt-test", True, "[[drop:2]]"),
    ("error mid-stream", "gpt-test", True, "[[errorevent:3]]"),
    ("no usage", "gpt-test", False, "[[nousage]]"),
    ("stream, no usage", "gpt-test", True, "[[nousage]]"),
    ("anthropic", "claude-test", False, ""),
    ("anthropic stream", "claude-test", True, ""),
    ("anthropic cut", "claude-test", True, "[[drop:3]]"),
    ("anthropic error", "claude-test", True, "[[errorevent:1]]"),
    ("client hangs up", "gpt-test", True, "[[hangup]]"),
    ("rejected", "gpt-test", False, "[[fail:alpha:400]]"),
    ("broke user", "gpt-test", False, "[[broke]]"),
]


async def one_call(
    http: httpx.AsyncClient,
    scenario: tuple[str, str, bool, str],
    words: int,
    user: uuid.UUID,
    token: str,
) -> int:
    name, model, stream, directives = scenario
    body = chat(f"call {name} [[acct:{user}]] [[words:{words}]] {directives}", model=model)
    if "[[broke]]" in directives:
        body["max_tokens"] = 10_000 // 10  # more than the broke users hold
    headers = {"Authorization": f"Bearer {token}"}
    if not stream:
        response = await http.post("/v1/chat/completions", json=body, headers=headers)
        return response.status_code
    body["stream"] = True
    async with http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
        seen = 0
        async for line in response.aiter_lines():
            seen += line.startswith("data: ")
            if "[[hangup]]" in directives and seen == 2:
                break
        return response.status_code


async def test_a_thousand_mixed_calls_bill_exactly_what_the_upstreams_produced(
    fresh: Stack,
) -> None:
    rng = random.Random(20261122)
    users = [fresh.user(tokens=2_000_000) for _ in range(16)]
    broke = [fresh.user(tokens=50) for _ in range(4)]
    everyone = users + broke
    start = {str(u): fresh.usage.balances[str(u)] for u, _ in everyone}
    limit = asyncio.Semaphore(50)
    statuses: Counter[int] = Counter()

    async def run(i: int, http: httpx.AsyncClient) -> None:
        scenario = rng.choice(SCENARIOS)
        user, token = rng.choice(broke if scenario[0] == "broke user" else users)
        async with limit:
            statuses[await one_call(http, scenario, 1 + i % 9, user, token)] += 1

    async with httpx.AsyncClient(base_url=fresh.url, timeout=30) as http:
        await asyncio.gather(*(run(i, http) for i in range(1_000)))

    # Every reservation ends with exactly one usage.recorded, settled once.
    accounts = {str(u) for u, _ in everyone}
    holds = [h for h in fresh.usage.holds.values() if h.account in accounts]
    for _ in range(750):
        if not [h for h in holds if h.settled is None]:
            break
        await asyncio.sleep(0.02)
    assert [h for h in holds if h.settled is None] == [], "every hold is settled"
    assert fresh.usage.anomalies == []
    # Busy callers were served from leases, each shrunk final to what its calls cost.
    leases = [h for h in holds if h.lease is not None]
    assert len(leases) >= len(users)
    for lease in leases:
        assert lease.shrinks[-1]["final"] is True
        assert lease.shrinks[-1]["credits"] == lease.committed_tokens
    assert statuses[200] > 600 and statuses[502] > 0 and statuses[402] > 0 and statuses[400] > 0

    providers = (fresh.alpha, fresh.beta, fresh.claude)
    produced_any = 0
    for user, _ in everyone:
        produced = sum(p.produced[str(user)].total for p in providers)
        produced_any += produced
        assert fresh.usage.committed(user) == produced, f"ledger of {user} differs"
        assert fresh.usage.balances[str(user)] == start[str(user)] - produced
    assert produced_any > 10_000
