"""Whether a promotion code may be redeemed, and what its text looks like."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tollgate.usage.promotions.rules import CODE_PATTERN, generate_code, normalise_code, refusal

NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)


@dataclass
class Code:
    active: bool = True
    expires_at: datetime = NOW + timedelta(days=1)
    redemptions: int = 0
    max_redemptions: int = 10


def slug(code: Code | None, *, already_redeemed: bool = False) -> str | None:
    problem = refusal(code, already_redeemed=already_redeemed, now=NOW)
    return None if problem is None else problem.type_slug


def test_a_live_code_with_room_left_may_be_redeemed() -> None:
    assert slug(Code(redemptions=9)) is None


def test_each_reason_to_refuse_has_its_own_slug() -> None:
    assert slug(None) == "promotion-code-not-found"
    assert slug(Code(active=False)) == "promotion-code-inactive"
    assert slug(Code(expires_at=NOW)) == "promotion-code-expired"
    assert slug(Code(redemptions=10)) == "promotion-code-exhausted"


def test_an_account_that_redeemed_already_is_told_so_even_when_the_code_ran_out() -> None:
    assert slug(Code(redemptions=10), already_redeemed=True) == "promotion-code-already-redeemed"


def test_a_code_is_compared_upper_case_without_spaces() -> None:
    assert normalise_code("  spring sale-2027 ") == "SPRINGSALE-2027"


def test_generated_codes_are_valid_and_differ() -> None:
    codes = {generate_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(CODE_PATTERN.match(c) and len(c) == 14 for c in codes)
    assert not any(ch in c for c in codes for ch in "01OIL")
