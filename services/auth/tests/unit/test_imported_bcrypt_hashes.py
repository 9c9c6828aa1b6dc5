"""Accounts moved in from another backend sign in with their bcrypt hashes."""

from __future__ import annotations

import bcrypt

from tollgate.auth.accounts.passwords import Passwords

PASSWORDS = Passwords(time_cost=1, memory_cost=1024, parallelism=1)


def bcrypt_hash(password: bytes, prefix: bytes = b"$2b$") -> str:
    return (prefix + bcrypt.hashpw(password, bcrypt.gensalt(rounds=4))[4:]).decode()


async def test_a_bcrypt_hash_verifies_the_right_password_only() -> None:
    stored = bcrypt_hash(b"old password")

    assert await PASSWORDS.verify(stored, "old password")
    assert not await PASSWORDS.verify(stored, "old passwore")


async def test_2a_and_2y_hashes_of_other_libraries_verify_too() -> None:
    for prefix in (b"$2a$", b"$2y$"):
        assert await PASSWORDS.verify(bcrypt_hash(b"s3cret!", prefix), "s3cret!")


async def test_a_password_past_72_bytes_verifies_as_the_old_backend_cut_it() -> None:
    long = "é" * 50  # 100 bytes: bcrypt, and the backends we import from, read the first 72
    stored = bcrypt_hash(long.encode()[:72])

    assert await PASSWORDS.verify(stored, long)


async def test_a_bcrypt_hash_is_always_due_for_argon2id_and_argon2id_is_not() -> None:
    assert PASSWORDS.needs_rehash(bcrypt_hash(b"x"))
    assert not PASSWORDS.needs_rehash(await PASSWORDS.hash("correct horse battery"))


async def test_a_malformed_bcrypt_hash_proves_nothing() -> None:
    assert not await PASSWORDS.verify("$2b$12$tooshort", "anything")
