from __future__ import annotations

from tollgate.auth.accounts.passwords import password_problem
from tollgate.auth.accounts.throttling import account_key, backoff_seconds


def test_passwords_between_8_and_128_characters_pass() -> None:
    assert password_problem("correct horse battery") is None
    assert password_problem("x" * 7) is not None
    assert password_problem("y" * 129) is not None


def test_common_passwords_are_refused_whatever_their_case() -> None:
    problem = password_problem("Password123")
    assert problem is not None and "common password" in problem


def test_a_trivially_repeated_password_is_refused_and_told_why() -> None:
    for repeated in ("aaaaaaaa", "abcabcabcabc", "zzzzzzzzzzzzzzzz"):
        problem = password_problem(repeated)
        assert problem is not None and "Repeats" in problem, repeated


def test_sequences_and_keyboard_walks_are_refused() -> None:
    for guessable in ("abcdefgh", "12345678", "qwertyuiop"):
        assert password_problem(guessable) is not None, guessable


def test_a_password_made_of_the_email_is_refused() -> None:
    assert password_problem("adalovelace1", "adalovelace@example.com") is not None


def test_passphrases_and_long_passwords_are_accepted() -> None:
    assert password_problem("a long and unusual passphrase 42") is None
    assert password_problem("Zq8#pL2!vR") is None
    assert password_problem("correct horse battery staple " * 4) is None


def test_the_email_itself_is_not_a_password() -> None:
    assert password_problem("ada@example.com", "ada@example.com") is not None


def test_backoff_starts_at_the_threshold_and_doubles_up_to_the_cap() -> None:
    delays = [backoff_seconds(n, threshold=5, base=2, cap=60) for n in range(1, 12)]

    assert delays == [0, 0, 0, 0, 2, 4, 8, 16, 32, 60, 60]


def test_throttle_keys_hold_no_email_and_ignore_case() -> None:
    key = account_key("Ada@Example.com")

    assert key == account_key("ada@example.com ")
    assert "ada" not in key
