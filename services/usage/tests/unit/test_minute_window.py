"""The tokens-per-minute window on its own: what counts, and how long a caller waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tollgate.usage.reservations.minute_window import MinuteWindow

NOW = datetime(2026, 3, 15, 18, 0, tzinfo=UTC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def test_only_the_last_minute_counts() -> None:
    window = MinuteWindow([(ago(61), 500), (ago(60), 400), (ago(59), 300), (ago(0), 200)])

    assert window.used(NOW) == 500


def test_a_call_that_fits_waits_for_nothing() -> None:
    window = MinuteWindow([(ago(30), 700)])

    assert window.wait_for(300, 1_000, NOW) == 0


def test_the_wait_is_until_enough_of_the_oldest_calls_have_left_the_window() -> None:
    window = MinuteWindow([(ago(55), 200), (ago(40), 300), (ago(10), 400)])

    assert window.wait_for(300, 1_000, NOW) == 5  # the first 200 suffice: gone in 5 s
    assert window.wait_for(600, 1_000, NOW) == 20  # needs the first two gone
    assert window.wait_for(1_000, 1_000, NOW) == 50  # needs all three gone


def test_a_wait_in_part_of_a_second_is_rounded_up_to_a_whole_one() -> None:
    window = MinuteWindow([(ago(59.8), 1_000)])

    assert window.wait_for(1, 1_000, NOW) == 1


def test_a_call_settled_for_less_frees_the_difference_at_once() -> None:
    held = MinuteWindow([(ago(5), 900)])
    settled = MinuteWindow([(ago(5), 150)])  # the same call, corrected to what it used

    assert held.wait_for(500, 1_000, NOW) == 55
    assert settled.wait_for(500, 1_000, NOW) == 0
