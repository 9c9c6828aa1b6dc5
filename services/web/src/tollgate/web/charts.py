"""Charts drawn on the server as SVG (pygal): tokens per day by model, revenue by month.

The SVG goes into the page as a ``data:`` image: no script runs and no request
follows, so the page's strict CSP holds; the same figures are in a table beside it.
"""

from __future__ import annotations

import base64
import functools
import re
from datetime import date
from typing import Any

import pygal
from pygal.style import Style

__all__ = ["revenue_by_month", "tokens_per_day"]

_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL)

# Distinct at a glance, and each darker than 3:1 against white (WCAG's non-text contrast).
_STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#1b1f24",
    foreground_strong="#1b1f24",
    foreground_subtle="#4a5360",
    font_family="system-ui, sans-serif",
    colors=("#1f4fd1", "#b3261e", "#1d6b3a", "#8a4b00", "#6b2fa3", "#00677f", "#4a5360"),
)


def tokens_per_day(days: list[date], series: dict[str, dict[date, int]]) -> str:
    """A ``data:`` URI of the stacked bar chart."""
    figures = tuple(
        (model, tuple(per_day.get(d) for d in days)) for model, per_day in sorted(series.items())
    )
    return _stacked_bars(tuple(days), figures)


# pygal takes about 50 ms for a month of four models, most of a dashboard's own CPU
# (bench/web); the same figures give the same picture, so a dashboard reloaded
# between two calls draws nothing.
@functools.lru_cache(maxsize=512)
def _stacked_bars(
    days: tuple[date, ...], figures: tuple[tuple[str, tuple[int | None, ...]], ...]
) -> str:
    chart = pygal.StackedBar(
        js=[],  # pygal's tooltips load a remote script: none here
        style=_STYLE,
        width=900,
        height=320,
        legend_at_bottom=True,
        legend_at_bottom_columns=4,
        show_minor_x_labels=False,
        x_labels_major_every=max(1, len(days) // 8),
        truncate_legend=-1,
        truncate_label=-1,
        print_values=False,
        value_formatter=lambda v: f"{v:,.0f}",
        no_data_text="No calls in this range",
    )
    chart.x_labels = [d.strftime("%-d %b") for d in days]
    for model, values in figures:
        chart.add(model, list(values))
    return _data_uri(chart)


def revenue_by_month(months: list[dict[str, Any]]) -> str:
    """A ``data:`` URI of net and refunded money per month (major units)."""
    chart = pygal.Bar(
        js=[],
        style=_STYLE,
        width=900,
        height=300,
        legend_at_bottom=True,
        truncate_label=-1,
        value_formatter=lambda v: f"{v:,.2f}",
        no_data_text="No payments yet",
    )
    chart.x_labels = [m["month"] for m in months]
    chart.add("Net", [m["net"] / 100 for m in months])
    chart.add("Refunded", [m["refunded"] / 100 for m in months])
    return _data_uri(chart)


def _data_uri(chart: Any) -> str:
    # pygal always writes its configuration as a script; an image never runs it, and a
    # chart has no use for it, so it goes.
    svg = _SCRIPT.sub("", chart.render(is_unicode=True))
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
