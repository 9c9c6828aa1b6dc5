"""Checking a ``Stripe-Signature`` header: no I/O, no SDK state.

The SDK's own check accepts timestamps from the future; a webhook signed far
ahead of our clock is refused here just like one replayed long after it was sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from tollgate.shared.errors import BadRequest

MAX_HEADER_LENGTH = 4096


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


def parse_event(payload: bytes) -> dict[str, Any]:
    """The event object of a verified body; a body that is not a Stripe event is a 400."""
    try:
        event = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("The webhook body is not JSON", type_slug="invalid-webhook") from exc
    if not isinstance(event, dict):
        raise BadRequest("The webhook body is not an event", type_slug="invalid-webhook")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    ok = (
        isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and isinstance(event.get("created"), int)
        and isinstance(obj, dict)
    )
    if not ok:
        raise BadRequest(
            "The webhook body lacks id, type, created or data.object", type_slug="invalid-webhook"
        )
    return event
