from __future__ import annotations

import pytest

from tollgate.auth.config import Settings
from tollgate.auth.service_clients.endpoints import client_is_known
from tollgate.auth.signing.sealing import KeySeal, SealBroken


def test_a_sealed_key_opens_with_the_same_secret_only() -> None:
    sealed = KeySeal("s3cret").seal(b"private key bytes", "kid-1")

    assert b"private key bytes" not in sealed
    assert KeySeal("s3cret").open(sealed, "kid-1") == b"private key bytes"
    with pytest.raises(SealBroken):
        KeySeal("other").open(sealed, "kid-1")


def test_the_secret_rotates_by_listing_the_old_one_after_the_new() -> None:
    sealed_before = KeySeal("old").seal(b"k", "kid-1")
    rotated = Settings(key_encryption_secret="new, old").key_encryption_secrets()

    assert rotated == ["new", "old"]
    assert KeySeal(*rotated).open(sealed_before, "kid-1") == b"k"
    with pytest.raises(SealBroken):
        KeySeal("old").open(KeySeal(*rotated).seal(b"k2", "kid-2"), "kid-2")


def test_a_sealed_key_cannot_be_moved_to_another_kid() -> None:
    sealed = KeySeal("s3cret").seal(b"k", "kid-1")

    with pytest.raises(SealBroken):
        KeySeal("s3cret").open(sealed, "kid-2")


def test_service_clients_are_read_from_one_variable() -> None:
    settings = Settings(service_clients="gateway:a,billing:b:c, usage:d,broken")

    assert settings.service_client_secrets() == {"gateway": "a", "billing": "b:c", "usage": "d"}


def test_only_the_right_secret_of_a_known_client_is_accepted() -> None:
    clients = {"gateway": "a-secret"}

    assert client_is_known(clients, "gateway", "a-secret")
    assert not client_is_known(clients, "gateway", "a-secreT")
    assert not client_is_known(clients, "stranger", "a-secret")


def test_placeholder_secrets_refuse_to_start_in_production() -> None:
    with pytest.raises(ValueError, match="key_encryption_secret"):
        Settings(
            env="production",
            client_secret="real-one",
            service_clients="gateway:real",
            database_url="postgresql://db",
            amqp_url="amqp://tollgate:real@broker/",
        )
