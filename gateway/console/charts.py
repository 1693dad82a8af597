"""Console charts as server-rendered, accessible SVG, drawn by pygal (a maintained charting
library: axes, legends, scales and tooltips without a JavaScript framework).

Each chart carries a ``<title>`` and a ``<desc>`` (its accessible name and description,
``role="img"``), labelled axes, and values formatted fixed-point (money never in exponent form).
pygal's inline ``<script>`` (its optional tooltip configuration) is left out, so the SVG can be
inlined under a strict Content-Security-Policy; its ``<style>`` is scoped to the chart's id.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

import pygal
from pygal.style import Style

from gateway.console.data.overview import DayPoint
from gateway.console.data.performance import PerformanceSeries
from gateway.console.data.spend import SpendTable

Number = Decimal | int | float | None

# Okabe–Ito: distinguishable with the common colour-vision deficiencies, and dark enough on white.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#8C564B", "#7F7F7F")
STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1f2328",
    foreground_strong="#1f2328",
    foreground_subtle="#57606a",
    colors=PALETTE,
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    title_font_size=16,
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=12,
    value_font_size=12,
    tooltip_font_size=12,
)
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)


def money_formatter(values: Sequence[Number]) -> Callable[[float], str]:
    """Fixed-point money: cents, or four places when every value is below a dollar."""
    biggest = max((abs(float(v)) for v in values if v is not None), default=0.0)
    places = 2 if biggest >= 1 else 4
    return lambda v: "" if v is None else f"${v:,.{places}f}"


def count_formatter(v: float) -> str:
    return "" if v is None else f"{v:,.0f}"


def ms_formatter(v: float) -> str:
    return "" if v is None else f"{v:,.1f} ms"


def percent_formatter(v: float) -> str:
    """Shares (0..1) as percentages."""
    return "" if v is None else f"{v * 100:.2f}%"


Unit = Literal["money", "count", "ms", "percent"]


def _label(x: object) -> str:
    if isinstance(x, datetime):
        return x.strftime("%Y-%m-%d %H:%M")
    if isinstance(x, date):
        return x.isoformat()
    return "(none)" if x is None else str(x)


def _finish(svg: str, title: str, desc: str) -> str:
    """Accessible name and description on the root element; pygal's script removed."""
    svg = _SCRIPT.sub("", svg)
    match = re.match(r'<svg\b[^>]*\bid="([^"]+)"', svg)
    chart_id = match.group(1) if match else "chart"
    svg = svg.replace(
        f'id="{chart_id}"',
        f'id="{chart_id}" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc"',
        1,
    )
    head = f'<title id="{chart_id}-title">{html.escape(title)}</title>'
    head += f'<desc id="{chart_id}-desc">{html.escape(desc)}</desc>'
    if f"<title>{html.escape(title)}</title>" in svg:
        return svg.replace(f"<title>{html.escape(title)}</title>", head, 1)
    return svg.replace("</defs>", "</defs>" + head, 1)


def chart(
    kind: str,
    *,
    title: str,
    desc: str,
    x_title: str,
    y_title: str,
    x_labels: Sequence[object],
    series: Mapping[str, Sequence[Number]],
    unit: Unit = "count",
    stacked: bool = False,
    width: int = 960,
    height: int = 360,
) -> str:
    """One line or bar chart as an SVG string (``kind``: "line" or "bar")."""
    if kind == "line":
        cls = pygal.Line
    elif kind == "bar":
        cls = pygal.StackedBar if stacked else pygal.Bar
    else:
        raise ValueError(f"unknown chart kind {kind!r}")
    values = [v for vs in series.values() for v in vs]
    config = dict(
        title=title,
        x_title=x_title,
        y_title=y_title,
        style=STYLE,
        js=[],
        disable_xml_declaration=True,
        width=width,
        height=height,
        explicit_size=False,
        show_legend=len(series) > 1,
        legend_at_bottom=True,
        x_label_rotation=30 if len(x_labels) > 12 else 0,
        show_minor_x_labels=len(x_labels) <= 16,
        x_labels_major_every=max(1, len(x_labels) // 8),
        truncate_legend=40,
        include_x_axis=True,
        no_data_text="No data for this range",
        value_formatter={
            "money": money_formatter(values),
            "count": count_formatter,
            "ms": ms_formatter,
            "percent": percent_formatter,
        }[unit],
    )
    graph = cls(**config)
    graph.x_labels = [_label(x) for x in x_labels]
    for name, points in series.items():
        graph.add(name, [None if v is None else float(v) for v in points])
    return _finish(graph.render(is_unicode=True), title, desc)


def daily_spend_chart(points: Sequence[DayPoint], *, currency: str = "USD") -> str:
    """The overview's last 30 days: customer cost per day."""
    total = sum((p.customer_cost for p in points), Decimal(0))
    first, last = (points[0].day, points[-1].day) if points else (None, None)
    return chart(
        "bar",
        title="Spend per day",
        desc=f"Customer cost per UTC day from {_label(first)} to {_label(last)}; "
        f"{len(points)} days, {total.quantize(Decimal('0.01'))} {currency} in all.",
        x_title="Day (UTC)",
        y_title=f"Spend ({currency})",
        x_labels=[p.day for p in points],
        series={"Spend": [p.customer_cost for p in points]},
        unit="money",
    )


def spend_chart(table: SpendTable, *, top: int = 8, currency: str = "USD") -> str:
    """The spend explorer's chart: a stacked bar per period, one series per top value (the
    rest summed as "other")."""
    periods = table.periods()
    keep = table.top_values(top)
    cells: dict[str, dict[date, Decimal]] = {}
    for r in table.rows:
        name = _label(r.value) if r.value in keep else "other"
        assert r.period is not None
        cells.setdefault(name, {}).setdefault(r.period, Decimal(0))
        cells[name][r.period] += r.customer_cost
    order = [_label(v) for v in keep] + (["other"] if "other" in cells else [])
    series = {name: [cells[name].get(p, Decimal(0)) for p in periods] for name in order if name in cells}
    return chart(
        "bar",
        title=f"Spend per {table.grain} by {table.by.replace('_', ' ')}",
        desc=f"Customer cost per {table.grain} from {table.start} to {table.end}, stacked by "
        f"{table.by.replace('_', ' ')} (top {len(keep)}); total "
        f"{table.totals.customer_cost.quantize(Decimal('0.01'))} {currency}.",
        x_title="Month" if table.grain == "month" else "Day (UTC)",
        y_title=f"Spend ({currency})",
        x_labels=periods,
        series=series,
        unit="money",
        stacked=True,
    )


_METRICS: dict[str, tuple[str, str, Unit]] = {
    "p50_latency_ms": ("p50 latency", "Latency (ms)", "ms"),
    "p95_latency_ms": ("p95 latency", "Latency (ms)", "ms"),
    "p99_latency_ms": ("p99 latency", "Latency (ms)", "ms"),
    "error_rate": ("Error rate", "Failed tries (%)", "percent"),
    "availability": ("Availability", "Successful tries (%)", "percent"),
}


def performance_chart(series: PerformanceSeries, metric: str = "p95_latency_ms") -> str:
    """One metric over time, a line per provider/model."""
    if metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    name, axis, unit = _METRICS[metric]
    buckets = sorted({p.bucket_start for p in series.points})
    lines: dict[str, dict[datetime, Number]] = {}
    for p in series.points:
        lines.setdefault(f"{p.provider}/{p.model}", {})[p.bucket_start] = getattr(p, metric)
    return chart(
        "line",
        title=f"{name} per provider and model",
        desc=f"{name} per {_span(series)} bucket from {_label(series.since)} to {_label(series.until)} UTC, "
        f"one line per provider/model ({len(lines)}).",
        x_title="Time (UTC)",
        y_title=axis,
        x_labels=buckets,
        series={k: [v.get(b) for b in buckets] for k, v in sorted(lines.items())},
        unit=unit,
    )


def _span(series: PerformanceSeries) -> str:
    minutes = int(series.bucket.total_seconds() // 60)
    return {5: "5-minute", 60: "hourly", 1440: "daily"}.get(minutes, f"{minutes}-minute")
