"""Checking a ``Stripe-Signature`` header: no I/O, no SDK state.

The SDK's own check accepts timestamps from the future; a webhook signed far
ahead of our clock is refused here just like one replayed long after it was sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

from tollgate.shared.errors import BadRequest

MAX_HEADER_LENGTH = 4096
STRIPE_ID = re.compile(r"[\x21-\x7e]{1,255}")
EVENT_TYPE = re.compile(r"[a-z0-9_.]{1,100}")
# The year 9999: any later ``created`` is not a time, and would not fit the column either.
LATEST_CREATED = 253_402_300_799


class InvalidSignature(BadRequest):
    type_slug = "invalid-signature"
    title = "Invalid webhook signature"


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError as exc:
                raise InvalidSignature("The signature timestamp is not a number") from exc
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise InvalidSignature("The signature header has no timestamp or no v1 signature")
    return timestamp, signatures


def expected_signature(payload: bytes, timestamp: int, secret: str) -> str:
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(
    payload: bytes, header: str | None, secrets: list[str], *, tolerance: int, now: float
) -> None:
    """Raise InvalidSignature unless one of ``secrets`` signed ``payload`` within ``tolerance``."""
    if not header:
        raise InvalidSignature("The Stripe-Signature header is missing")
    if len(header) > MAX_HEADER_LENGTH:
        raise InvalidSignature("The Stripe-Signature header is too long")
    timestamp, signatures = _parse_header(header)
    if abs(now - timestamp) > tolerance:
        raise InvalidSignature(
            "The signature timestamp is outside the tolerance", type_slug="stale-signature"
        )
    for secret in secrets:
        expected = expected_signature(payload, timestamp, secret)
        if any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            return
    raise InvalidSignature("No signing secret matches the signature")


def _invalid(detail: str) -> BadRequest:
    return BadRequest(detail, type_slug="invalid-webhook")


def stripe_id(value: Any, what: str) -> str:
    """An id as Stripe writes them (``evt_…``, ``sub_…``): printable, no spaces, ≤ 255 long."""
    if isinstance(value, str) and STRIPE_ID.fullmatch(value):
        return value
    raise _invalid(f"The webhook's {what} is not a Stripe id")


def parse_event(payload: bytes) -> dict[str, Any]:
    """The event object of a verified body; a body that is not a Stripe event is a 400.

    Signed is not the same as well-formed: a 400 is an answer Stripe stops retrying,
    and nothing of a malformed event is written.
    """
    try:
        event = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise _invalid("The webhook body is not JSON (or is nested too deep)") from exc
    if not isinstance(event, dict):
        raise _invalid("The webhook body is not an event")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise _invalid("The webhook body lacks data.object")
    stripe_id(event.get("id"), "event id")
    stripe_id(obj.get("id"), "object id")
    if not (isinstance(event.get("type"), str) and EVENT_TYPE.fullmatch(event["type"])):
        raise _invalid("The webhook's event type is not a Stripe event type")
    created = event.get("created")
    if not (isinstance(created, int) and not isinstance(created, bool)):
        raise _invalid("The webhook's created is not a whole number of seconds")
    if not 0 <= created <= LATEST_CREATED:
        raise _invalid("The webhook's created is not a plausible time")
    return event
