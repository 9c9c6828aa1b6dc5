"""Webhook signatures: the right secret, the right body, the right time — in both directions."""

from __future__ import annotations

import pytest

from tollgate.billing.webhooks.signature import (
    InvalidSignature,
    expected_signature,
    parse_event,
    verify,
)
from tollgate.shared.errors import BadRequest

NOW = 1_800_000_000
BODY = b'{"id": "evt_1", "type": "invoice.paid", "created": 1, "data": {"object": {"id": "in_1"}}}'


def header(secret: str = "whsec_new", at: int = NOW, body: bytes = BODY) -> str:
    return f"t={at},v1={expected_signature(body, at, secret)}"


def check(head: str | None, body: bytes = BODY, secrets: tuple[str, ...] = ("whsec_new",)) -> None:
    verify(body, head, list(secrets), tolerance=300, now=NOW)


def test_a_body_signed_with_the_current_secret_verifies() -> None:
    check(header())


def test_any_of_several_secrets_verifies_during_a_rotation() -> None:
    check(header("whsec_old"), secrets=("whsec_new", "whsec_old"))


def test_a_header_carrying_several_signatures_verifies_if_one_matches() -> None:
    check(f"t={NOW},v1={'0' * 64},v1={expected_signature(BODY, NOW, 'whsec_new')}")


def test_a_tampered_body_fails() -> None:
    with pytest.raises(InvalidSignature):
        check(header(), body=BODY.replace(b"paid", b"void"))


def test_an_unknown_secret_fails() -> None:
    with pytest.raises(InvalidSignature):
        check(header("whsec_someone_else"))


@pytest.mark.parametrize("skew", [-301, 301, -86_400, 86_400])
def test_timestamps_outside_the_tolerance_fail_whichever_side_they_are_on(skew: int) -> None:
    with pytest.raises(InvalidSignature) as caught:
        check(header(at=NOW + skew))
    assert caught.value.type_slug == "stale-signature"


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_timestamps_inside_the_tolerance_pass(skew: int) -> None:
    check(header(at=NOW + skew))


@pytest.mark.parametrize("head", [None, "", "t=x,v1=ab", "v1=ab", f"t={NOW}", "t=1,v0=ab"])
def test_missing_or_malformed_headers_fail(head: str | None) -> None:
    with pytest.raises(InvalidSignature):
        check(head)


def test_the_timestamp_is_part_of_what_is_signed() -> None:
    signature = expected_signature(BODY, NOW, "whsec_new")
    with pytest.raises(InvalidSignature):
        check(f"t={NOW + 1},v1={signature}")


@pytest.mark.parametrize(
    "body", [b"nope", b"[]", b"{}", b'{"id": "e", "type": "t", "created": 1, "data": {}}']
)
def test_bodies_that_are_not_events_are_bad_requests(body: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_event(body)


def test_an_event_body_parses() -> None:
    assert parse_event(BODY)["type"] == "invoice.paid"
