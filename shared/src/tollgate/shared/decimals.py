"""Money written the way people read it: ``"0"`` and ``"0.000098"``, never ``"0E-8"``.

A NUMERIC column gives back its scale (``Decimal("0E-8")`` for a zero with eight
places) and Python's ``str`` of such a value is scientific; clients then print it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import PlainSerializer

__all__ = ["PlainDecimal", "plain"]


def plain(value: Decimal) -> str:
    """Fixed-point, without trailing zeros (``Decimal("1.50")`` is ``"1.5"``)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


PlainDecimal = Annotated[Decimal, PlainSerializer(plain, return_type=str, when_used="json")]
