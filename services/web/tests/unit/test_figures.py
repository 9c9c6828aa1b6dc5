"""How figures reach a page: amounts with their currency, times in the person's zone,
charts without a script."""

from __future__ import annotations

import base64
from datetime import date

from starlette.requests import Request

from tollgate.web.charts import revenue_by_month, tokens_per_day
from tollgate.web.pages import local_time, money, time_zone_of


def request_with_cookie(cookie: str) -> Request:
    return Request({"type": "http", "headers": [(b"cookie", cookie.encode())]})


def test_amounts_in_cents_are_shown_with_their_currency() -> None:
    assert money(2000, "usd") == "USD 20.00"
    assert money(123456, "eur") == "EUR 1,234.56"
    assert money(None) == "—"


def test_a_time_from_the_api_is_shown_in_the_persons_time_zone() -> None:
    assert local_time("2026-12-03T09:41:00+00:00", "Europe/Paris") == "3 Dec 2026, 10:41 CET"
    assert local_time("2026-07-01T23:30:00+00:00", "America/New_York") == "1 Jul 2026, 19:30 EDT"
    assert local_time(None) == "—"


def test_the_time_zone_comes_from_the_cookie_the_browser_set_and_else_is_utc() -> None:
    assert time_zone_of(request_with_cookie("tz=Europe%2FParis")) == "Europe/Paris"
    assert time_zone_of(request_with_cookie("tz=Mars%2FOlympus")) == "UTC"
    assert time_zone_of(request_with_cookie("tz=..%2F..%2Fetc%2Fpasswd")) == "UTC"
    assert time_zone_of(request_with_cookie("other=1")) == "UTC"


def test_charts_are_svg_images_with_no_script_and_no_remote_asset() -> None:
    days = [date(2026, 12, 1), date(2026, 12, 2)]
    for uri in (
        tokens_per_day(days, {"gpt-4o-mini": {days[1]: 15}}),
        revenue_by_month([{"month": "2026-12", "net": 1500, "refunded": 500}]),
    ):
        assert uri.startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(uri.split(",", 1)[1]).decode()
        assert "<svg" in svg
        assert "<script" not in svg
        assert 'href="http' not in svg and "url(http" not in svg
