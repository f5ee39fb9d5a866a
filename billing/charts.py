"""Plotly figures for the finance page, as plain dicts (see leaderboard/charts.py). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

from leaderboard.charts import GRID, PALETTE, base_layout


def monthly_vendor_spend_figure(*, months: Sequence[date], spend: Mapping[str, Sequence[Decimal]]) -> dict:
    """Spend per month stacked by vendor; every month is a bar, zero or not."""
    x = [month.strftime("%b %Y") for month in months]
    data = [
        {
            "type": "bar",
            "name": vendor,
            "x": x,
            "y": [float(value) for value in values],
            "marker": {"color": PALETTE[n % len(PALETTE)]},
            "hovertemplate": "%{fullData.name}: $%{y:,.2f}<extra></extra>",
        }
        for n, (vendor, values) in enumerate(spend.items())
    ]
    layout = base_layout(
        barmode="stack",
        xaxis={"type": "category", "showgrid": False},
        yaxis={"tickprefix": "$", "tickformat": ",.0f", "gridcolor": GRID, "rangemode": "tozero"},
    )
    return {"data": data, "layout": layout}
