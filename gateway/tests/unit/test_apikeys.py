from __future__ import annotations

import zlib

from tollgate.gateway.apikeys import (
    API_KEY_LENGTH,
    ApiKeyCache,
    Introspection,
    base62,
    checksum,
    generate_api_key,
    is_well_formed,
)


def test_a_generated_key_has_the_agreed_shape_and_passes_its_checksum() -> None:
    key = generate_api_key()
    assert key.startswith("tg_")
    assert len(key) == API_KEY_LENGTH == 42
    assert is_well_formed(key)


def test_the_checksum_is_base62_crc32_of_the_random_text() -> None:
    random_part = "0" * 32 + "1"
    assert checksum(random_part) == base62(zlib.crc32(random_part.encode()), 6)
    assert base62(61, 2) == "0z" and base62(62, 2) == "10"


def test_any_single_changed_character_breaks_the_checksum() -> None:
    key = generate_api_key()
    for i in range(3, len(key)):
        replacement = "a" if key[i] != "a" else "b"
        assert not is_well_formed(key[:i] + replacement + key[i + 1 :])


def test_wrong_prefix_length_or_alphabet_is_rejected() -> None:
    key = generate_api_key()
    assert not is_well_formed("sk_" + key[3:])
    assert not is_well_formed(key + "0")
    assert not is_well_formed(key[:-1])
    assert not is_well_formed(key[:10] + "-" + key[11:])


def test_a_revoked_key_id_is_evicted_from_the_cache() -> None:
    cache = ApiKeyCache(ttl=30, negative_ttl=5)
    key = generate_api_key()
    cache.put(key, Introspection(True, "kid-1", "jwt"))
    assert cache.get(key) == Introspection(True, "kid-1", "jwt")
    cache.evict_key_id("kid-1")
    assert cache.get(key) is None


def test_an_answer_whose_token_is_about_to_expire_is_not_cached() -> None:
    cache = ApiKeyCache(ttl=30, negative_ttl=5)
    key = generate_api_key()
    cache.put(key, Introspection(True, "kid-1", "jwt"), token_expires_in=20)
    assert cache.get(key) is None


def test_the_cache_stays_within_its_bound() -> None:
    cache = ApiKeyCache(ttl=30, negative_ttl=5, max_entries=3)
    keys = [generate_api_key() for _ in range(5)]
    for i, key in enumerate(keys):
        cache.put(key, Introspection(True, f"k{i}", "jwt"))
    assert [cache.get(k) is not None for k in keys] == [False, False, True, True, True]
