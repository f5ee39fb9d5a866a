"""The impact-vs-spend page's read model: spend set against merged PRs, commits and accepted lines.

Two reads whatever the org's size, each kept under the versions of the tables it reads
(usage.services.computed): one per-engineer summary over the period (the scatter, the medians
and the anti-gaming flags come from it) and one per-team-and-month table for the viewer's scope. Spend and tokens come from the DailyUsage rollup, outcomes from ImpactRecord.
Names leave this module already resolved under the privacy setting. docs/impact.md defines
every figure.
"""

from __future__ import annotations

import hashlib
import statistics
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property

from django.conf import settings
from django.db import connection

from leaderboard.access import Viewer, display_name
from leaderboard.models import BoardSnapshot, PrivacySettings
from leaderboard.periods import Period
from usage.services.computed import ENGINEERS, IMPACT, MEMBERSHIPS, ROLLUP, TEAMS, computed, versions_sql

# What the page draws and lists at most (a company of 50,000 was a 7 MB page of 15,000 table
# rows and 50,000 points): the scatter's points, per month the costliest teams, and the flags.
POINTS_IN_SCOPE_SHOWN = 2000
POINTS_OTHERS_SHOWN = 1000
TEAMS_PER_MONTH_SHOWN = 25
FLAGS_SHOWN = 100
FLAG_ORDER = {"idle": 0, "cache": 1, "parked": 2}

# What the people and team-month reads depend on.
VERSIONS_SQL = versions_sql(ROLLUP, ENGINEERS, TEAMS, MEMBERSHIPS, IMPACT)

# An engineer "produced something" on a day with any of these (flag a: agents left running).
OUTPUT_METRICS = ("commits", "ai_commits", "prs_opened", "prs_merged", "ai_prs", "ai_lines_added", "ai_edits_accepted")
QUADRANTS = {
    (True, True): "high spend, many PRs",
    (False, True): "low spend, many PRs",
    (True, False): "high spend, few PRs",
    (False, False): "low spend, few PRs",
}

# Each person's spend over [start, end) and over its last days (flag a): summed live over the
# rollup, or, for a preset period, read from the period's board snapshot (whose entries hold the
# same sums) with only the last days summed live (a quarter of the rows: 0.85 s -> 0.3 s at 50,000).
LIVE_SPEND_SQL = """
    SELECT engineer_id, sum(cost_usd) AS cost_usd, sum(tokens) AS tokens,
           sum(cache_read_tokens) AS cache_read_tokens, sum(output_tokens) AS output_tokens,
           sum(cost_usd) FILTER (WHERE day >= %(recent)s) AS recent_cost_usd
    FROM usage_dailyusage
    WHERE day >= %(start)s AND day < %(end)s AND engineer_id IS NOT NULL
    GROUP BY engineer_id
"""
SNAPSHOT_SPEND_SQL = """
    SELECT b.engineer_id, b.cost_usd, b.tokens, b.cache_read_tokens, b.output_tokens, r.recent_cost_usd
    FROM leaderboard_boardentry b
    LEFT JOIN (
        SELECT engineer_id, sum(cost_usd) AS recent_cost_usd FROM usage_dailyusage
        WHERE day >= %(recent)s AND day < %(end)s AND engineer_id IS NOT NULL
        GROUP BY engineer_id
    ) r ON r.engineer_id = b.engineer_id
    WHERE b.snapshot_id = %(snapshot)s
"""

# Everyone with attributed spend or outcomes in [start, end), with the team they were in on
# `as_of`, and their spend and output over the last days of the period (flag a).
PEOPLE_SQL = """
WITH spend AS ({spend}), outcome AS (
    SELECT engineer_id,
           sum(value) FILTER (WHERE metric = 'prs_merged') AS prs_merged,
           sum(value) FILTER (WHERE metric IN ('commits', 'ai_commits')) AS commits,
           sum(value) FILTER (WHERE metric = 'ai_lines_added') AS accepted_lines,
           sum(value) FILTER (WHERE metric = ANY(%(output_metrics)s) AND day >= %(recent)s) AS recent_output
    FROM usage_impactrecord
    WHERE day >= %(start)s AND day < %(end)s AND engineer_id IS NOT NULL
    GROUP BY engineer_id
)
SELECT e.id AS engineer_id, e.name, t.name AS team_name,
       COALESCE(s.cost_usd, 0) AS cost_usd, COALESCE(s.tokens, 0) AS tokens,
       COALESCE(s.cache_read_tokens, 0) AS cache_read_tokens, COALESCE(s.output_tokens, 0) AS output_tokens,
       COALESCE(s.recent_cost_usd, 0) AS recent_cost_usd,
       COALESCE(o.prs_merged, 0) AS prs_merged, COALESCE(o.commits, 0) AS commits,
       COALESCE(o.accepted_lines, 0) AS accepted_lines, COALESCE(o.recent_output, 0) AS recent_output
FROM spend s
FULL JOIN outcome o ON o.engineer_id = s.engineer_id
JOIN usage_engineer e ON e.id = COALESCE(s.engineer_id, o.engineer_id)
LEFT JOIN usage_teammembership m
       ON m.engineer_id = e.id AND m.valid_from <= %(as_of)s AND (m.valid_to IS NULL OR m.valid_to > %(as_of)s)
LEFT JOIN usage_team t ON t.id = m.team_id
ORDER BY e.id
"""

# Per team (of the day) and month, for the engineers in scope (NULL scope: everyone).
# A merged PR is AI-assisted when its author had AI usage (any tokens, any tool) or accepted
# AI edits on some day from the day it was opened to the day it was merged, both included.
TEAM_MONTHS_SQL = """
WITH scoped_usage AS (
    SELECT date_trunc('month', day)::date AS month, COALESCE(team_id, 0) AS team_key,
           sum(cost_usd) AS cost_usd, sum(tokens) AS tokens
    FROM usage_dailyusage
    WHERE day >= %(start)s AND day < %(end)s AND engineer_id IS NOT NULL
      AND (%(scope)s::bigint[] IS NULL OR engineer_id = ANY(%(scope)s::bigint[]))
    GROUP BY 1, 2
), scoped_impact AS (
    SELECT i.*, COALESCE(m.team_id, 0) AS team_key
    FROM usage_impactrecord i
    LEFT JOIN usage_teammembership m
           ON m.engineer_id = i.engineer_id AND m.valid_from <= i.day AND (m.valid_to IS NULL OR m.valid_to > i.day)
    WHERE i.day >= %(start)s AND i.day < %(end)s AND i.engineer_id IS NOT NULL
      AND i.metric IN ('prs_merged', 'ai_lines_added')
      AND (%(scope)s::bigint[] IS NULL OR i.engineer_id = ANY(%(scope)s::bigint[]))
), outcome AS (
    SELECT date_trunc('month', day)::date AS month, team_key,
           sum(value) FILTER (WHERE metric = 'prs_merged') AS prs_merged,
           sum(value) FILTER (WHERE metric = 'ai_lines_added') AS accepted_lines,
           count(*) FILTER (WHERE metric = 'prs_merged' AND value > 0 AND (
               EXISTS (SELECT 1 FROM usage_dailyusage d
                       WHERE d.engineer_id = p.engineer_id AND d.day >= COALESCE(p.window_start, p.day)
                         AND d.day <= p.day AND d.tokens > 0)
               OR EXISTS (SELECT 1 FROM usage_impactrecord a
                          WHERE a.engineer_id = p.engineer_id AND a.metric IN ('ai_edits_accepted', 'ai_lines_added')
                            AND a.value > 0 AND a.day >= COALESCE(p.window_start, p.day) AND a.day <= p.day)
           )) AS ai_prs
    FROM scoped_impact p
    GROUP BY 1, 2
)
SELECT month, team_key, t.name AS team_name,
       COALESCE(u.cost_usd, 0) AS cost_usd, COALESCE(u.tokens, 0) AS tokens,
       COALESCE(o.prs_merged, 0) AS prs_merged, COALESCE(o.accepted_lines, 0) AS accepted_lines,
       COALESCE(o.ai_prs, 0) AS ai_prs
FROM scoped_usage u
FULL JOIN outcome o USING (month, team_key)
LEFT JOIN usage_team t ON t.id = team_key
ORDER BY month, t.name NULLS LAST
"""


@dataclass(frozen=True)
class ImpactPoint:
    engineer_id: int | None  # None when the viewer may not open this person
    name: str  # resolved under the privacy setting
    team: str
    cost_usd: Decimal
    prs_merged: int
    accepted_lines: int
    in_scope: bool  # someone the viewer may open (self, reports, everyone for finance)
    is_viewer: bool


@dataclass(frozen=True)
class TeamMonth:
    month: date
    first_day: date  # the month's days inside the period: a period need not start on the 1st
    last_day: date
    team_id: int | None  # None: no team
    team: str
    cost_usd: Decimal
    tokens: int
    prs_merged: int
    accepted_lines: int
    ai_prs: int

    @property
    def label(self) -> str:
        """ "Oct 2026", or "Oct 26–31, 2026" when the period holds part of the month only."""
        next_month = (self.month + timedelta(days=32)).replace(day=1)
        if self.first_day == self.month and self.last_day == next_month - timedelta(days=1):
            return f"{self.month:%b %Y}"
        return f"{self.first_day:%b %-d}–{self.last_day:%-d, %Y}"

    @property
    def cost_per_pr_usd(self) -> Decimal | None:
        return self.cost_usd / self.prs_merged if self.prs_merged else None

    @property
    def tokens_per_line(self) -> int | None:
        return round(self.tokens / self.accepted_lines) if self.accepted_lines else None

    @property
    def ai_share(self) -> float | None:
        return self.ai_prs / self.prs_merged if self.prs_merged else None


@dataclass(frozen=True)
class Flag:
    kind: str  # idle | cache | parked
    label: str
    engineer_id: int
    name: str
    team: str
    evidence: str
    cost_usd: Decimal = Decimal(0)  # the person's spend in the period: the costliest are listed first


@dataclass(frozen=True)
class ImpactPage:
    period: Period
    scope: str  # everyone | chain | self | team | engineer
    points: list[ImpactPoint]  # what the scatter draws
    median_cost_usd: Decimal | None
    median_prs: float | None
    team_months: list[TeamMonth]
    flags: list[Flag] | None  # None: this viewer is not shown flags
    people: int  # engineers with spend or outcomes in the period, company-wide
    in_scope_people: int
    has_impact: bool  # any merged PR, commit or accepted line in scope

    @cached_property
    def points_shown(self) -> list[ImpactPoint]:
        """The points the scatter draws: all of them in a small company; past
        POINTS_IN_SCOPE_SHOWN people in scope (POINTS_OTHERS_SHOWN others), the viewer, the
        costliest and those with the most merged PRs, and an even spread of the rest by spend."""
        scope = [p for p in self.points if p.in_scope]
        others = [p for p in self.points if not p.in_scope]
        return _thinned(scope, POINTS_IN_SCOPE_SHOWN) + _thinned(others, POINTS_OTHERS_SHOWN)

    @cached_property
    def team_months_shown(self) -> list[TeamMonth]:
        """Per month the TEAMS_PER_MONTH_SHOWN costliest teams, in the table's order."""
        ranked = sorted(self.team_months, key=lambda row: (row.month, -row.cost_usd, row.team))
        kept, per_month = set(), {}
        for row in ranked:
            if per_month.setdefault(row.month, 0) < TEAMS_PER_MONTH_SHOWN:
                per_month[row.month] += 1
                kept.add(id(row))
        return [row for row in self.team_months if id(row) in kept]

    @cached_property
    def team_months_not_shown(self) -> tuple[int, Decimal]:
        """How many team-months the table leaves out, and their spend."""
        kept = {id(row) for row in self.team_months_shown}
        rest = [row for row in self.team_months if id(row) not in kept]
        return len(rest), sum((row.cost_usd for row in rest), Decimal(0))

    @cached_property
    def flags_shown(self) -> list[Flag]:
        """The FLAGS_SHOWN flags first looked at: idle spend, then cache, then parked, costliest first."""
        ordered = sorted(self.flags or [], key=lambda f: (FLAG_ORDER.get(f.kind, 9), -f.cost_usd, f.engineer_id))
        return ordered[:FLAGS_SHOWN]

    def quadrant(self, point: ImpactPoint) -> str:
        if self.median_cost_usd is None or self.median_prs is None:
            return ""
        return QUADRANTS[(point.cost_usd > self.median_cost_usd, point.prs_merged > self.median_prs)]


def impact_page(
    *,
    viewer: Viewer,
    privacy: PrivacySettings,
    period: Period,
    today: date,
    scope_ids: frozenset[int] | None,
    scope: str,
    snapshot: BoardSnapshot | None = None,
) -> ImpactPage:
    """The impact page for engineers in `scope_ids` (None: everyone) over the half-open period.

    Other people appear on the scatter only as context, named under the privacy setting (none
    under self_only). Flags are computed for the scope and returned only to managers, finance
    and admins. Spend comes from the period's board `snapshot` when given (board_snapshot), else
    it is summed live. Two queries while nothing they read has changed since a view computed them,
    else up to twelve.
    """
    as_of = min(period.end - timedelta(days=1), today)
    recent = max(period.start, min(period.end, today + timedelta(days=1)) - timedelta(days=settings.IMPACT_IDLE_DAYS))
    params = {"start": period.start, "end": period.end, "as_of": as_of, "recent": recent}
    spend = SNAPSHOT_SPEND_SQL if snapshot else LIVE_SPEND_SQL
    people_params = params | {"output_metrics": list(OUTPUT_METRICS), "snapshot": snapshot.pk if snapshot else None}
    # Both reads are kept under the versions of what they read (usage.services.computed): 0.5 s
    # and 0.9 s at 50,000 engineers. Everyone's records are the same for every viewer; the team
    # months are kept per scope.
    records = computed(
        kind="impact_people",
        key=f"{period.start}:{period.end}:{as_of}:{recent}:{snapshot.pk if snapshot else '-'}",
        versions=VERSIONS_SQL,
        compute=lambda: _fetch(PEOPLE_SQL.format(spend=spend), people_params),
        of=list,
    )
    in_scope = [r for r in records if scope_ids is None or r["engineer_id"] in scope_ids]
    self_only = privacy.board_names == PrivacySettings.BoardNames.SELF_ONLY
    points = [
        _point(r, viewer, privacy, scope_ids)
        for r in records
        if scope_ids is None or r["engineer_id"] in scope_ids or not self_only
    ]
    # Medians of a handful of people would tell a non-manager what the others spent.
    basis = records if viewer.sees_everyone or len(records) >= privacy.min_team_size else in_scope
    spenders = [r for r in basis if r["cost_usd"] > 0]
    scope_list = None if scope_ids is None else sorted(scope_ids)
    team_rows = computed(
        kind="impact_teams",
        key=f"{period.start}:{period.end}:{_scope_key(scope_list)}",
        versions=VERSIONS_SQL,
        compute=lambda: _fetch(TEAM_MONTHS_SQL, params | {"scope": scope_list}),
        of=list,
    )
    shows_flags = viewer.sees_everyone or viewer.is_manager
    return ImpactPage(
        period=period,
        scope=scope,
        points=points,
        median_cost_usd=statistics.median(r["cost_usd"] for r in spenders) if spenders else None,
        median_prs=float(statistics.median(r["prs_merged"] for r in spenders)) if spenders else None,
        team_months=[_team_month(r, period) for r in team_rows],
        flags=impact_flags(records=records, in_scope=in_scope, recent_days=(period.end - recent).days)
        if shows_flags
        else None,
        people=len(records),
        in_scope_people=len(in_scope),
        has_impact=any(r["prs_merged"] or r["commits"] or r["accepted_lines"] for r in in_scope),
    )


def _scope_key(scope: list[int] | None) -> str:
    if scope is None:
        return "everyone"
    return hashlib.sha256(",".join(map(str, scope)).encode()).hexdigest()[:32]


def impact_flags(*, records: list[dict], in_scope: list[dict], recent_days: int) -> list[Flag]:
    """The three anti-gaming flags for the people in scope, each with the numbers that raised it.
    Thresholds are settings (IMPACT_*); the peer average of flag (c) is over everyone with spend."""
    flags = []
    spenders = [r["cost_usd"] for r in records if r["cost_usd"] > 0]
    peer_average = sum(spenders, Decimal(0)) / len(spenders) if spenders else None
    margin = Decimal(str(settings.IMPACT_PARKED_MARGIN))
    # With no outcome data loaded at all, "no output" says nothing about anyone.
    outcomes_loaded = any(r["recent_output"] or r["prs_merged"] or r["commits"] or r["accepted_lines"] for r in records)
    for r in in_scope:
        who = {
            "engineer_id": r["engineer_id"],
            "name": r["name"],
            "team": r["team_name"] or "No team",
            "cost_usd": r["cost_usd"],
        }
        idle_spend = r["recent_cost_usd"] >= Decimal(str(settings.IMPACT_IDLE_MIN_SPEND_USD))
        if outcomes_loaded and idle_spend and not r["recent_output"]:
            flags.append(
                Flag(
                    kind="idle",
                    label="Spend with no output",
                    evidence=f"${r['recent_cost_usd']:,.2f} in the last {recent_days} days of the period, "
                    "and no commit, pull request or accepted line",
                    **who,
                )
            )
        tokens = r["tokens"]
        if tokens >= settings.IMPACT_CACHE_MIN_TOKENS:
            cache_share, output_share = r["cache_read_tokens"] / tokens, r["output_tokens"] / tokens
            if cache_share > settings.IMPACT_CACHE_READ_SHARE and output_share < settings.IMPACT_CACHE_MAX_OUTPUT_SHARE:
                flags.append(
                    Flag(
                        kind="cache",
                        label="Cache reads, almost no output",
                        evidence=f"{cache_share:.1%} of {tokens:,} tokens were cache reads; "
                        f"output was {output_share:.2%} ({r['output_tokens']:,} tokens)",
                        **who,
                    )
                )
        if (
            peer_average
            and len(spenders) >= settings.IMPACT_PARKED_MIN_PEERS
            and peer_average < r["cost_usd"] <= peer_average * (1 + margin)
        ):
            over = (r["cost_usd"] / peer_average - 1) * 100
            flags.append(
                Flag(
                    kind="parked",
                    label="Spend parked just above average",
                    evidence=f"${r['cost_usd']:,.2f} against a peer average of ${peer_average:,.2f} "
                    f"(+{over:.1f}%, among {len(spenders):,} people with spend)",
                    **who,
                )
            )
    return flags


def _thinned(points: list[ImpactPoint], most: int) -> list[ImpactPoint]:
    """At most `most` of `points` (in their order): the viewer, a tenth each of the costliest
    and of those with the most merged PRs (the outliers a reader looks for), then points spread
    evenly along the rest ordered by spend, so the cloud keeps its shape."""
    if len(points) <= most:
        return points
    order = range(len(points))
    kept = {n for n in order if points[n].is_viewer}
    for key in (lambda n: (-points[n].cost_usd, n), lambda n: (-points[n].prs_merged, n)):
        kept.update(sorted(order, key=key)[: most // 10])
    rest = sorted((n for n in order if n not in kept), key=lambda n: (points[n].cost_usd, n))
    room = most - len(kept)
    if room > 0:
        kept.update(rest[int(k * len(rest) / room)] for k in range(room))
    return [points[n] for n in sorted(kept)]


def _point(record: dict, viewer: Viewer, privacy: PrivacySettings, scope_ids: frozenset[int] | None) -> ImpactPoint:
    engineer_id = record["engineer_id"]
    opens = viewer.can_view_engineer(engineer_id)
    named = opens or privacy.board_names == PrivacySettings.BoardNames.NAMES
    return ImpactPoint(
        engineer_id=engineer_id if opens else None,
        name=display_name(viewer, engineer_id=engineer_id, name=record["name"], mode=privacy.board_names),
        # A pseudonym beside a team name could give the person away in a small team.
        team=(record["team_name"] or "No team") if named else "",
        cost_usd=record["cost_usd"],
        prs_merged=int(record["prs_merged"]),
        accepted_lines=int(record["accepted_lines"]),
        in_scope=scope_ids is None or engineer_id in scope_ids,
        is_viewer=engineer_id == viewer.engineer_id,
    )


def _team_month(record: dict, period: Period) -> TeamMonth:
    month = record["month"]
    return TeamMonth(
        month=month,
        first_day=max(month, period.start),
        last_day=min((month + timedelta(days=32)).replace(day=1), period.end) - timedelta(days=1),
        team_id=record["team_key"] or None,
        team=record["team_name"] or "No team",
        cost_usd=record["cost_usd"],
        tokens=int(record["tokens"]),
        prs_merged=int(record["prs_merged"]),
        accepted_lines=int(record["accepted_lines"]),
        ai_prs=int(record["ai_prs"]),
    )


def _fetch(sql: str, params: dict) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [col.name for col in cursor.description]
        return [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]
