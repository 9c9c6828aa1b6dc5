"""Tokens per minute: the raw tokens a member's calls counted in the last minute. No I/O.

A sliding window of one minute: a reservation counts its prompt plus the most
completion it may produce from the moment it is made, until a minute later (its
settlement corrects the count to what the call really used). A call fits when
the window's tokens plus its own stay within the plan's limit; otherwise the
caller learns how many seconds until enough of the window has aged out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["WINDOW", "MinuteWindow"]

WINDOW = timedelta(minutes=1)


@dataclass
class MinuteWindow:
    """What one member counted in the window: (when, tokens), oldest first."""

    entries: list[tuple[datetime, int]] = field(default_factory=list)

    def used(self, now: datetime) -> int:
        return sum(tokens for at, tokens in self.entries if at > now - WINDOW)

    def wait_for(self, tokens: int, limit: int, now: datetime) -> int:
        """Seconds until ``tokens`` more fit under ``limit`` (0: they fit now).

        Call only with ``tokens <= limit``: a call larger than the whole limit never fits.
        """
        live = [(at, n) for at, n in self.entries if at > now - WINDOW]
        excess = sum(n for _, n in live) + tokens - limit
        if excess <= 0:
            return 0
        for at, n in live:
            excess -= n
            if excess <= 0:
                return max(1, math.ceil((at + WINDOW - now).total_seconds()))
        return math.ceil(WINDOW.total_seconds())  # unreachable while tokens <= limit

    def add(self, at: datetime, tokens: int) -> None:
        self.entries.append((at, tokens))
