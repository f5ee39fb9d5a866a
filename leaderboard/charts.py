"""Plotly figures as plain dicts ({"data": [...], "layout": {...}}), built from selector output.

Pure functions: no database, no request. Money arrives as Decimal and leaves as float (a
chart needs no more than a cent of precision); dates leave as ISO strings. Templates emit
a figure with `json_script` and static/js/charts.js draws it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

PALETTE = ["#6941c6", "#2e90fa", "#12b76a", "#f79009", "#f04438", "#0ba5ec", "#ee46bc", "#667085", "#15b79e"]
FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12, "color": "#1d2433"}
GRID = "#eaecf0"
MAX_SLICES = 8  # a donut with more slices than this folds the rest into "Other"


def base_layout(**extra) -> dict:
    """Small margins, a legend under the plot: readable on a phone as on a desktop."""
    layout = {
        "autosize": True,
        "height": 300,
        "margin": {"l": 48, "r": 48, "t": 16, "b": 40},
        "font": FONT,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "legend": {"orientation": "h", "y": -0.18, "x": 0},
        "hovermode": "x unified",
    }
    layout.update(extra)
    for name in ("yaxis", "yaxis2"):
        # Tick labels widen the margin they need ("$20,000,000" at 50,000 engineers was cut off).
        if isinstance(layout.get(name), dict):
            layout[name] = {"automargin": True, **layout[name]}
    return layout


def daily_usage_figure(*, days: Sequence[date], spend: Mapping[str, Sequence[Decimal]], tokens: Sequence[int]) -> dict:
    """Daily spend as stacked bars (one trace per key of `spend`: a vendor, a sub-team) and
    daily tokens as a line on the right-hand axis. Every day is a point, zero or not."""
    x = [day.isoformat() for day in days]
    data: list[dict] = [
        {
            "type": "bar",
            "name": name,
            "x": x,
            "y": [float(value) for value in values],
            "marker": {"color": PALETTE[n % len(PALETTE)]},
            "hovertemplate": "%{fullData.name}: $%{y:,.2f}<extra></extra>",
        }
        for n, (name, values) in enumerate(spend.items())
    ]
    data.append(
        {
            "type": "scatter",
            "mode": "lines",
            "name": "Tokens",
            "x": x,
            "y": list(tokens),
            "yaxis": "y2",
            "line": {"color": "#1d2433", "width": 1.5, "dash": "dot"},
            "hovertemplate": "Tokens: %{y:.3s}<extra></extra>",
        }
    )
    return {
        "data": data,
        "layout": base_layout(
            barmode="stack",
            xaxis={"type": "date", "showgrid": False, "tickformat": "%b %-d"},
            yaxis={"title": {"text": "Spend"}, "tickprefix": "$", "gridcolor": GRID, "rangemode": "tozero"},
            yaxis2={
                "title": {"text": "Tokens"},
                "overlaying": "y",
                "side": "right",
                "showgrid": False,
                "rangemode": "tozero",
                # Own round ticks: ticks synced to the spend axis land on 2.2M, 4.3M and -1.4n.
                "tickmode": "auto",
                "nticks": 6,
                "exponentformat": "B",  # 1.5B tokens, where d3's SI format says 1.5G
            },
        ),
    }


def donut_figure(*, labels: Sequence[str], values: Sequence[Decimal], max_slices: int = MAX_SLICES) -> dict:
    """Shares of spend as a donut; past `max_slices` the smallest fold into "Other"."""
    pairs = sorted(zip(labels, values, strict=True), key=lambda pair: -pair[1])
    if len(pairs) > max_slices:
        rest = sum((value for _, value in pairs[max_slices - 1 :]), Decimal(0))
        pairs = [*pairs[: max_slices - 1], ("Other", rest)]
    return {
        "data": [
            {
                "type": "pie",
                "hole": 0.55,
                "labels": [label for label, _ in pairs],
                "values": [float(value) for _, value in pairs],
                "marker": {"colors": PALETTE[: len(pairs)]},
                "textinfo": "percent",
                "hovertemplate": "%{label}: $%{value:,.2f}<extra></extra>",
                "sort": False,
            }
        ],
        "layout": base_layout(
            hovermode="closest",
            margin={"l": 8, "r": 8, "t": 8, "b": 8},
            legend={"orientation": "h", "y": -0.05, "x": 0},
        ),
    }


def rank_figure(*, weeks: Sequence[date], ranks: Sequence[int | None], engineers: Sequence[int]) -> dict:
    """Weekly rank by spend, #1 at the top; weeks without usage are gaps in the line."""
    lowest = max((rank for rank in ranks if rank), default=1)
    text = [f"#{rank} of {count}" if rank else "no usage" for rank, count in zip(ranks, engineers, strict=True)]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Rank",
                "x": [week.isoformat() for week in weeks],
                "y": list(ranks),
                "text": text,
                "connectgaps": False,
                "line": {"color": PALETTE[0], "width": 2},
                "hovertemplate": "Week of %{x|%b %-d}: %{text}<extra></extra>",
            }
        ],
        "layout": base_layout(
            height=240,
            hovermode="closest",
            showlegend=False,
            xaxis={"type": "date", "showgrid": False, "tickformat": "%b %-d"},
            # Reversed, from #1 at the top down to the lowest place reached: no "#0" row.
            yaxis={
                "range": [lowest + 0.5, 0.5],
                "title": {"text": "Rank"},
                "gridcolor": GRID,
                "tickprefix": "#",
                "tick0": 1,
                "dtick": max(1, math.ceil(lowest / 5)),
                "zeroline": False,
            },
            margin={"l": 56, "r": 16, "t": 16, "b": 40},
        ),
    }


def sparkline_points(values: Sequence[Decimal | int | float], *, width: int = 120, height: int = 24) -> str:
    """An SVG polyline's `points` for a tiny trend line: inline SVG keeps a table of hundreds
    of members cheap to draw. A flat series sits on the baseline."""
    if not values:
        return ""
    top = max(float(value) for value in values)
    step = width / (len(values) - 1) if len(values) > 1 else 0
    pad = 1  # keeps a 1.5px stroke inside the box
    points = []
    for n, value in enumerate(values):
        y = height - pad - (float(value) / top * (height - 2 * pad) if top > 0 else 0)
        points.append(f"{n * step:.1f},{y:.1f}")
    return " ".join(points)
