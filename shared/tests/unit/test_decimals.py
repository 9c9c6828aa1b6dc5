from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel

from tollgate.shared.decimals import PlainDecimal


class Cost(BaseModel):
    cost_usd: PlainDecimal


def test_money_is_written_in_fixed_point_without_trailing_zeros() -> None:
    assert Cost(cost_usd=Decimal("0E-8")).model_dump(mode="json") == {"cost_usd": "0"}
    assert Cost(cost_usd=Decimal("0.0000980000")).model_dump_json() == '{"cost_usd":"0.000098"}'
    assert Cost(cost_usd=Decimal("1.2E+3")).model_dump(mode="json") == {"cost_usd": "1200"}


def test_python_callers_still_get_a_decimal() -> None:
    assert Cost(cost_usd=Decimal("1.50")).model_dump() == {"cost_usd": Decimal("1.50")}
