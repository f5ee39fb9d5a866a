"""The efficiency ranking: outcome per dollar (merged PRs per $100, accepted lines per $).

Beside the raw-token leaderboard, not inside it: one query over the DailyUsage rollup and
ImpactRecord, whatever the org's size. Only people with at least EFFICIENCY_MIN_SPEND_USD
in the period are ranked (a ratio over a few cents is noise). Names leave this module resolved
under the privacy setting, like the leaderboard's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection

from leaderboard.access import Viewer, display_name
from leaderboard.models import BoardSnapshot, PrivacySettings
from leaderboard.periods import Period

METRICS = {"prs_per_100usd": "Merged PRs per $100", "lines_per_usd": "Accepted lines per $"}
# The ranking's order as one ascending row value, picked from this map, never from the request:
# "prs_per_100usd DESC, lines_per_usd DESC NULLS LAST, cost_usd, engineer_id" and
# "lines_per_usd DESC NULLS LAST, prs_per_100usd DESC, cost_usd, engineer_id". As a row, the
# viewer's position is a count of the rows below it, and the first page a top-N sort: ranking
# everyone with row_number() sorted 50,000 wide rows on disk (0.1 s).
SORT_KEY = {
    "prs_per_100usd": "ROW(-prs_per_100usd, lines_per_usd IS NULL, -coalesce(lines_per_usd, 0), cost_usd, engineer_id)",
    "lines_per_usd": "ROW(lines_per_usd IS NULL, -coalesce(lines_per_usd, 0), -prs_per_100usd, cost_usd, engineer_id)",
}

# Spend and tokens by engineer over the period: summed live over the rollup (0.8 s at 50,000
# engineers), or read from the period's board snapshot, whose entries hold the same sums.
LIVE_SPEND_SQL = """
    SELECT engineer_id, sum(cost_usd) AS cost_usd, sum(tokens) AS tokens
    FROM usage_dailyusage
    WHERE day >= %(start)s AND day < %(end)s AND engineer_id IS NOT NULL
    GROUP BY engineer_id
    HAVING sum(cost_usd) >= %(min_spend)s
"""
SNAPSHOT_SPEND_SQL = """
    SELECT engineer_id, cost_usd, tokens FROM leaderboard_boardentry
    WHERE snapshot_id = %(snapshot)s AND cost_usd >= %(min_spend)s
"""

EFFICIENCY_SQL = """
WITH spend AS ({spend}), outcome AS (
    SELECT engineer_id, sum(value) FILTER (WHERE metric = 'prs_merged') AS prs_merged,
           sum(value) FILTER (WHERE metric = 'ai_lines_added') AS accepted_lines
    FROM usage_impactrecord
    WHERE day >= %(start)s AND day < %(end)s AND engineer_id IS NOT NULL
    GROUP BY engineer_id
), ratios AS (
    SELECT s.engineer_id, s.cost_usd, s.tokens, COALESCE(o.prs_merged, 0) AS prs_merged,
           o.accepted_lines,  -- NULL: no tool of theirs reports accepted lines, which is not 0
           COALESCE(o.prs_merged, 0) * 100 / s.cost_usd AS prs_per_100usd,
           o.accepted_lines / s.cost_usd AS lines_per_usd
    FROM spend s LEFT JOIN outcome o ON o.engineer_id = s.engineer_id
), rated AS MATERIALIZED (
    SELECT *, {sort_key} AS sort_key FROM ratios
), top AS (
    SELECT * FROM rated ORDER BY sort_key LIMIT %(limit)s
), ranked AS (
    SELECT *, row_number() OVER (ORDER BY sort_key) AS position FROM top
    UNION ALL
    SELECT v.*, 1 + (SELECT count(*) FROM rated r WHERE r.sort_key < v.sort_key) FROM rated v
    WHERE v.engineer_id = %(viewer)s AND v.engineer_id NOT IN (SELECT engineer_id FROM top)
)
SELECT r.engineer_id, r.cost_usd, r.tokens, r.prs_merged, r.accepted_lines, r.prs_per_100usd, r.lines_per_usd,
       r.position, (SELECT count(*) FROM rated) AS people, e.name, t.name AS team_name
FROM ranked r
JOIN usage_engineer e ON e.id = r.engineer_id
LEFT JOIN usage_teammembership m
       ON m.engineer_id = e.id AND m.valid_from <= %(as_of)s AND (m.valid_to IS NULL OR m.valid_to > %(as_of)s)
LEFT JOIN usage_team t ON t.id = m.team_id
ORDER BY r.position
"""


@dataclass(frozen=True)
class EfficiencyRow:
    position: int
    engineer_id: int | None  # None when the viewer may not open this person's page
    name: str
    team: str
    cost_usd: Decimal
    tokens: int
    prs_merged: int
    accepted_lines: int | None  # None: not reported by the person's tools
    prs_per_100usd: Decimal
    lines_per_usd: Decimal | None
    is_viewer: bool


@dataclass(frozen=True)
class EfficiencyBoard:
    period: Period
    metric: str
    names: str  # the privacy mode the names were resolved under
    rows: list[EfficiencyRow]
    viewer_row: EfficiencyRow | None
    people: int  # ranked people (with at least the minimum spend)
    min_spend_usd: Decimal


def efficiency_board(
    *,
    viewer: Viewer,
    privacy: PrivacySettings,
    period: Period,
    metric: str,
    today: date,
    limit: int = 100,
    snapshot: BoardSnapshot | None = None,
) -> EfficiencyBoard:
    """People with at least the minimum spend over the half-open period, ranked by `metric`
    (ties: the other ratio, then the smaller spend). The first `limit` rows and the viewer's; spend
    from the period's board `snapshot` when given (board_snapshot), else summed live. One query."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    min_spend = Decimal(str(settings.EFFICIENCY_MIN_SPEND_USD))
    params = {
        "start": period.start,
        "end": period.end,
        "as_of": min(period.end - timedelta(days=1), today),
        "min_spend": min_spend,
        "limit": limit,
        "viewer": viewer.engineer_id,
        "snapshot": snapshot.pk if snapshot else None,
    }
    spend = SNAPSHOT_SPEND_SQL if snapshot else LIVE_SPEND_SQL
    with connection.cursor() as cursor:
        cursor.execute(EFFICIENCY_SQL.format(spend=spend, sort_key=SORT_KEY[metric]), params)
        columns = [col.name for col in cursor.description]
        records = [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]
    rows = [_row(r, viewer, privacy) for r in records]
    viewer_row = next((row for row in rows if row.is_viewer), None)
    if privacy.board_names == PrivacySettings.BoardNames.SELF_ONLY:
        rows = [row for row in rows if row.is_viewer]  # as on the leaderboard: only one's own row
    return EfficiencyBoard(
        period=period,
        metric=metric,
        names=privacy.board_names,
        rows=[row for row in rows if row.position <= limit],
        viewer_row=viewer_row,
        people=int(records[0]["people"]) if records else 0,
        min_spend_usd=min_spend,
    )


def _row(record: dict, viewer: Viewer, privacy: PrivacySettings) -> EfficiencyRow:
    engineer_id = record["engineer_id"]
    opens = viewer.can_view_engineer(engineer_id)
    named = opens or privacy.board_names == PrivacySettings.BoardNames.NAMES
    return EfficiencyRow(
        position=int(record["position"]),
        engineer_id=engineer_id if opens else None,
        name=display_name(viewer, engineer_id=engineer_id, name=record["name"], mode=privacy.board_names),
        team=(record["team_name"] or "No team") if named else "—",
        cost_usd=record["cost_usd"],
        tokens=int(record["tokens"]),
        prs_merged=int(record["prs_merged"]),
        accepted_lines=None if record["accepted_lines"] is None else int(record["accepted_lines"]),
        prs_per_100usd=record["prs_per_100usd"],
        lines_per_usd=record["lines_per_usd"],
        is_viewer=engineer_id == viewer.engineer_id,
    )
