"""Reading one value of a row the way every shape needs: or a BadValue saying why not."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bson import Decimal128, ObjectId

# What bcrypt writes: version, cost, then 22 characters of salt and 31 of digest.
BCRYPT_HASH = re.compile(r"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class BadValue(ValueError):
    """A value that does not parse; its message is the refusal's reason."""


def ident(value: Any) -> str | None:
    """An id as text: ObjectIds, UUIDs and numbers alike."""
    if value is None or value == "":
        return None
    if isinstance(value, ObjectId):
        return str(value)
    return str(value)


def text(value: Any) -> str | None:
    if value is None:
        return None
    out = str(value).strip()
    return out or None


def email(value: Any) -> str:
    address = text(value)
    if address is None:
        raise BadValue("missing email")
    if not EMAIL.match(address):
        raise BadValue(f"malformed email {address!r}")
    return address.lower()


def password_hash(value: Any) -> str | None:
    """A bcrypt hash kept as it is; None when the account has no password."""
    stored = text(value)
    if stored is None:
        return None
    if not BCRYPT_HASH.match(stored):
        raise BadValue("malformed password hash (not bcrypt)")
    return stored


def flag(value: Any, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("t", "true", "1", "yes", "y", "on")


def moment(value: Any, what: str = "date") -> datetime:
    """A point in time, always timezone-aware (naive values are UTC, as BSON dates are)."""
    if isinstance(value, datetime):
        found = value
    elif isinstance(value, date):
        found = datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        found = datetime.fromtimestamp(value / 1000 if value > 10**11 else value, UTC)
    elif isinstance(value, str) and value.strip():
        try:
            found = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise BadValue(f"{what} does not parse: {value!r}") from exc
    else:
        raise BadValue(f"missing {what}")
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def maybe_moment(value: Any, what: str = "date") -> datetime | None:
    if value is None or value == "":
        return None
    return moment(value, what)


def number(value: Any, what: str = "amount") -> Decimal:
    """An amount, from an int, a float, Decimal128 or text; never a float's rounding."""
    if isinstance(value, bool):
        raise BadValue(f"{what} does not parse: {value!r}")
    if isinstance(value, Decimal128):
        value = value.to_decimal()
    if isinstance(value, float):
        value = repr(value)
    if value is None or value == "":
        raise BadValue(f"missing {what}")
    try:
        found = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise BadValue(f"{what} does not parse: {value!r}") from exc
    if not found.is_finite():
        raise BadValue(f"{what} does not parse: {value!r}")
    return found


def whole(value: Any, what: str = "amount", *, minimum: int = 0) -> int:
    found = number(value, what)
    if found != found.to_integral_value():
        raise BadValue(f"{what} is not a whole number: {value!r}")
    if found < minimum:
        raise BadValue(f"{what} is below {minimum}: {value!r}")
    return int(found)


def cents(value: Any, what: str = "amount") -> int:
    """Dollars (as the source stores them) to cents, refusing fractions of a cent."""
    found = number(value, what) * 100
    if found != found.to_integral_value() or found < 0:
        raise BadValue(f"{what} is not a whole number of cents: {value!r}")
    return int(found)


def add_month(moment_: datetime) -> datetime:
    month = moment_.month % 12 + 1
    year = moment_.year + (moment_.month == 12)
    day = min(moment_.day, 28)
    return moment_.replace(year=year, month=month, day=day)


def current_period(anchor: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The monthly period, counted from ``anchor``, that contains ``now``."""
    start = anchor.replace(day=min(anchor.day, 28))
    if start > now:
        return start, add_month(start)
    end = add_month(start)
    while end <= now:
        start, end = end, add_month(end)
    return start, end


def sub_month(moment_: datetime) -> datetime:
    month = (moment_.month - 2) % 12 + 1
    year = moment_.year - (moment_.month == 1)
    return moment_.replace(year=year, month=month, day=min(moment_.day, 28))


def period_ending(
    reset: datetime | None, anchor: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The current monthly period: ending at the source's next reset, else from an anchor."""
    if reset is not None and reset > now:
        return sub_month(reset), reset
    return current_period(reset or anchor or now, now)
