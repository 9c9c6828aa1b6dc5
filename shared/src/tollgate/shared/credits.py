"""Credits: the one rule of what an LLM call costs and how much to hold for it.

Usage's ledger charges and sizes holds with these, and llm-proxy sizes the calls it
spends from a lease with the same functions, so the proxy's running count of a lease
and usage's settlement of it can never disagree by a credit.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MAX_PRICE_PER_MILLION",
    "PER_MILLION",
    "REFERENCE_CREDITS_PER_MILLION",
    "REFERENCE_PRICE",
    "HoldSize",
    "InsufficientTokens",
    "Price",
    "charge",
    "completion_cap",
    "size_hold",
]


class InsufficientTokens(Exception):
    def __init__(self, available: int) -> None:
        super().__init__(f"{available} credits available")
        self.available = available


PER_MILLION = 1_000_000
# The reference model costs one credit per token each way, so balances and plan
# allocations kept their numbers when tokens became credits.
REFERENCE_CREDITS_PER_MILLION = PER_MILLION
# A thousand times the dearest model of the catalog: anything above is a typo.
MAX_PRICE_PER_MILLION = 100_000_000_000


@dataclass(frozen=True)
class Price:
    """A model's price: whole credits per million input and per million output tokens."""

    input_per_million: int
    output_per_million: int

    def __post_init__(self) -> None:
        for value in (self.input_per_million, self.output_per_million):
            if not 0 < value <= MAX_PRICE_PER_MILLION:
                raise ValueError(f"a price per million must lie in 1 … {MAX_PRICE_PER_MILLION}")


REFERENCE_PRICE = Price(REFERENCE_CREDITS_PER_MILLION, REFERENCE_CREDITS_PER_MILLION)


def charge(price: Price, input_tokens: int, output_tokens: int) -> int:
    """The credits a call costs: the one rounding rule, up to a whole credit per call.

    Rounding once per call (never per token or per direction) keeps the ledger equal
    to the sum over calls, and a call that used anything costs at least one credit.
    """
    if input_tokens < 0 or output_tokens < 0:
        raise ValueError("token counts cannot be negative")
    micro = input_tokens * price.input_per_million + output_tokens * price.output_per_million
    return -(-micro // PER_MILLION)


@dataclass(frozen=True)
class HoldSize:
    held_credits: int
    max_completion_tokens: int


def size_hold(
    price: Price,
    prompt_tokens: int,
    max_completion_tokens: int | None,
    available: int,
    default_completion_cap: int,
) -> HoldSize:
    """How many credits to hold for a call at ``price``, or InsufficientTokens when it
    does not fit.

    The hold is what the call would cost at most: ``charge`` of the prompt and the
    largest completion. Without a max_completion_tokens the completion is as much as
    fits in ``available``, up to the plan's default cap; a call with no room to
    answer is refused.
    """
    if prompt_tokens < 0 or (max_completion_tokens is not None and max_completion_tokens < 0):
        raise ValueError("token counts cannot be negative")
    if max_completion_tokens is None:
        # The most output whose charge, beside the prompt's, stays within ``available``.
        room_micro = available * PER_MILLION - prompt_tokens * price.input_per_million
        room = min(room_micro // price.output_per_million, default_completion_cap)
        if room <= 0:
            raise InsufficientTokens(max(0, available))
        return HoldSize(charge(price, prompt_tokens, room), room)
    if prompt_tokens + max_completion_tokens <= 0:
        if available > 0:
            raise ValueError("a reservation must hold at least one token")
        raise InsufficientTokens(0)
    wanted = charge(price, prompt_tokens, max_completion_tokens)
    if wanted > available:
        raise InsufficientTokens(max(0, available))
    return HoldSize(wanted, max_completion_tokens)


def completion_cap(default_cap: int, tokens_per_minute: int | None, prompt_tokens: int) -> int:
    """The most a call that names no max_tokens may answer: the plan's default, and no
    more than a minute's tokens allow beside its prompt."""
    if tokens_per_minute is None:
        return default_cap
    return min(default_cap, max(1, tokens_per_minute - prompt_tokens))
