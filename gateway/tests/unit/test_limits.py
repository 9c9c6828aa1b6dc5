from __future__ import annotations

from tollgate.gateway.admission import Decision, LocalLimiter


def test_the_local_limiter_lets_exactly_the_limit_through_at_once() -> None:
    limiter = LocalLimiter()
    decisions = [limiter.decide("u:1", 5, "general") for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert decisions[-1].retry_after == 12  # one request per 60/5 seconds


def test_buckets_are_per_key() -> None:
    limiter = LocalLimiter()
    assert limiter.decide("u:1", 1, "general").allowed
    assert not limiter.decide("u:1", 1, "general").allowed
    assert limiter.decide("u:2", 1, "general").allowed


def test_a_raised_limit_counts_the_requests_already_made_not_the_old_spacing() -> None:
    limiter = LocalLimiter()
    spent = [limiter.decide("u:1", 10, "llm") for _ in range(10)]
    assert all(d.allowed for d in spent)
    assert not limiter.decide("u:1", 10, "llm").allowed
    upgraded = limiter.decide("u:1", 600, "llm")  # ten requests made, 589 to go
    assert upgraded.allowed and upgraded.remaining == 589
    lowered = limiter.decide("u:1", 10, "llm")  # eleven made: more than the minute's ten
    assert not lowered.allowed
    assert lowered.retry_after == 6  # full, not overfull: one more at the new rate's pace


def test_headers_follow_the_ietf_draft_and_the_legacy_names() -> None:
    headers = Decision(True, "llm", 10, 7, 18_001, 0).headers()
    assert headers["RateLimit-Policy"] == '"llm";q=10;w=60'
    assert headers["RateLimit"] == '"llm";r=7;t=19'
    assert headers["X-RateLimit-Limit"] == "10"
    assert headers["X-RateLimit-Remaining"] == "7"
    assert headers["X-RateLimit-Reset"] == "19"
    assert "Retry-After" not in headers
    refused = Decision(False, "llm", 10, 0, 60_000, 5_500).headers()
    assert refused["Retry-After"] == "6"
