from __future__ import annotations

import zlib

from tollgate.auth.api_keys.format import (
    ALPHABET,
    KEY_LENGTH,
    base62,
    checksum,
    is_well_formed,
    new_api_key,
)


def test_a_new_key_has_the_agreed_shape() -> None:
    key = new_api_key()

    assert key.startswith("tg_")
    assert len(key) == KEY_LENGTH == 42
    assert is_well_formed(key)


def test_keys_do_not_repeat() -> None:
    assert len({new_api_key() for _ in range(200)}) == 200


def test_any_single_character_typo_breaks_the_checksum() -> None:
    key = new_api_key()
    for position in range(3, len(key)):
        replacement = ALPHABET[(ALPHABET.index(key[position]) + 1) % 62]
        typo = key[:position] + replacement + key[position + 1 :]
        assert not is_well_formed(typo), position


def test_the_checksum_is_crc32_of_the_random_text_in_base62() -> None:
    random_part = "0" * 32 + "1"

    assert checksum(random_part) == base62(zlib.crc32(random_part.encode()), 6)
    assert base62(61, 2) == "0z" and base62(62, 2) == "10"


def test_wrong_prefix_length_or_alphabet_is_not_a_key() -> None:
    key = new_api_key()

    assert not is_well_formed("sk_" + key[3:])
    assert not is_well_formed(key + "0")
    assert not is_well_formed(key[:-1] + "-")
