"""The impact page's Plotly figure: spend against merged PRs, with medians and named quadrants.

Pure, like charts.py: selector output in, a figure dict out. Hover text is the points' names,
already resolved under the privacy setting by the selector.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from leaderboard.charts import GRID, PALETTE, base_layout
from leaderboard.selectors.impact import QUADRANTS, ImpactPoint

MEDIAN_LINE = {"color": "#98a2b3", "width": 1, "dash": "dash"}
CORNERS = {  # (high spend, many PRs) -> where the quadrant's name sits, in paper coordinates
    (True, True): (1, 1, "right", "top"),
    (False, True): (0, 1, "left", "top"),
    (True, False): (1, 0, "right", "bottom"),
    (False, False): (0, 0, "left", "bottom"),
}


def impact_scatter_figure(
    *, points: Sequence[ImpactPoint], median_cost_usd: Decimal | None, median_prs: float | None
) -> dict:
    """One marker per engineer (x spend, y merged PRs): the viewer's scope in colour, the others
    grey; the medians as dashed lines; each quadrant named in its corner."""
    groups = [
        ("You", [p for p in points if p.is_viewer], PALETTE[4], 13),
        ("Yours to see", [p for p in points if p.in_scope and not p.is_viewer], PALETTE[0], 10),
        ("Others", [p for p in points if not p.in_scope], "#c0c5d0", 8),
    ]
    data = [_trace(name, group, colour, size) for name, group, colour, size in groups if group]
    max_cost = max((float(p.cost_usd) for p in points), default=1.0) or 1.0
    max_prs = max((p.prs_merged for p in points), default=1) or 1
    shapes, annotations = [], []
    if median_cost_usd is not None and median_prs is not None:
        shapes = [
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": float(median_cost_usd),
                "x1": float(median_cost_usd),
                "y0": 0,
                "y1": 1,
                "line": MEDIAN_LINE,
            },
            {
                "type": "line",
                "xref": "paper",
                "yref": "y",
                "x0": 0,
                "x1": 1,
                "y0": median_prs,
                "y1": median_prs,
                "line": MEDIAN_LINE,
            },
        ]
        annotations = [
            {
                "xref": "paper",
                "yref": "paper",
                "x": x,
                "y": y,
                "xanchor": xa,
                "yanchor": ya,
                "showarrow": False,
                "text": QUADRANTS[key],
                "font": {"size": 11, "color": "#667085"},
                "bgcolor": "rgba(255,255,255,.8)",
            }
            for key, (x, y, xa, ya) in CORNERS.items()
        ]
    return {
        "data": data,
        "layout": base_layout(
            height=420,
            hovermode="closest",
            margin={"l": 56, "r": 16, "t": 16, "b": 48},
            # Above the plot: under it, a phone's wrapped legend ran over the x-axis title.
            legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
            xaxis={
                "title": {"text": "Spend in the period"},
                "tickprefix": "$",
                "gridcolor": GRID,
                "range": [-0.04 * max_cost, 1.1 * max_cost],
                "zeroline": False,
            },
            yaxis={
                "title": {"text": "Merged PRs"},
                "gridcolor": GRID,
                "range": [-0.14 * max_prs, 1.15 * max_prs],
                "zeroline": False,
            },
            shapes=shapes,
            annotations=annotations,
        ),
    }


def _trace(name: str, points: list[ImpactPoint], colour: str, size: int) -> dict:
    return {
        "type": "scatter",
        "mode": "markers",
        "name": name,
        "x": [float(p.cost_usd) for p in points],
        "y": [p.prs_merged for p in points],
        "text": [p.name for p in points],
        "customdata": [[p.team, p.accepted_lines] for p in points],
        "marker": {"color": colour, "size": size, "opacity": 0.85, "line": {"color": "#fff", "width": 1}},
        "hovertemplate": "<b>%{text}</b> %{customdata[0]}<br>$%{x:,.2f} · %{y} merged PRs"
        " · %{customdata[1]:,} accepted lines<extra></extra>",
    }
