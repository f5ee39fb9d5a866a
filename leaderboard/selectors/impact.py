"""The impact-vs-spend page's read model: spend set against merged PRs, commits and accepted lines.

Two reads whatever the org's size, each kept under the versions of the tables it reads
(usage.services.computed): one per-engineer summary over the period (the scatter, the medians
and the anti-gaming flags come from it) and one per-team-and-month table for the viewer's scope. Spend and tokens come from the DailyUsage rollup, outcomes from ImpactRecord.
Both are kept as NumPy columns: a view selects, ranks and counts over the arrays and builds
objects only for what the page shows (1.3 s a view at 50,000 engineers, when it built them all).
Names leave this module already resolved under the privacy setting. docs/impact.md defines
every figure.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property

import numpy as np
from django.conf import settings

from leaderboard.access import Viewer, display_name
from leaderboard.models import BoardSnapshot, PrivacySettings
from leaderboard.periods import Period
from leaderboard.selectors.impact_columns import (
    People,
    TeamMonthRows,
    fetch_columns,
    median_of,
    middle_values,
    people_from,
    team_month_rows_from,
    thin,
)
from usage.services.computed import (
    ENGINEERS,
    IMPACT,
    MEMBERSHIPS,
    ROLLUP,
    TEAMS,
    compute_and_store,
    computed,
    computed_entry,
    versions_sql,
)

# What the page draws and lists at most (a company of 50,000 was a 7 MB page of 15,000 table
# rows and 50,000 points): the scatter's points, per month the costliest teams, and the flags.
POINTS_IN_SCOPE_SHOWN = 2000
POINTS_OTHERS_SHOWN = 1000
TEAMS_PER_MONTH_SHOWN = 25
FLAGS_SHOWN = 100
FLAG_KINDS = ("idle", "cache", "parked")  # a person's flags are listed in this order
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


class _Built(Sequence):
    """A read-only list whose items are built when read: of 50,000 people the page shows a few
    thousand and counts the rest, so only those are made (0.5 s a view when all were)."""

    def __init__(self, size: int):
        self._size = size

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._build(n) for n in range(*index.indices(self._size))]
        if not -self._size <= index < self._size:
            raise IndexError(index)
        return self._build(index % self._size)

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._size}>"

    def _build(self, n: int):
        raise NotImplementedError


class PointList(_Built):
    """The scatter's people (`rows` of `people`), named for `viewer` when built."""

    def __init__(
        self, people: People, rows: np.ndarray, in_scope: np.ndarray, viewer: Viewer, privacy: PrivacySettings
    ):
        super().__init__(len(rows))
        self.people, self.rows, self.in_scope, self.viewer, self.privacy = people, rows, in_scope, viewer, privacy
        if viewer.engineer_id is None:
            self.is_viewer = np.zeros(len(people), dtype=bool)
        else:
            self.is_viewer = people.engineer_id == viewer.engineer_id

    def _build(self, n: int) -> ImpactPoint:
        return self.at(self.rows[n : n + 1])[0]

    def shown(self) -> list[ImpactPoint]:
        """ImpactPage.points_shown, thinned over the arrays."""
        drawn = np.zeros(len(self.people), dtype=bool)
        drawn[self.rows] = True
        scope, others = drawn & self.in_scope, drawn & ~self.in_scope
        return self.at(self._thinned(scope, POINTS_IN_SCOPE_SHOWN)) + self.at(
            self._thinned(others, POINTS_OTHERS_SHOWN)
        )

    def _thinned(self, group: np.ndarray, most: int) -> np.ndarray:
        if np.count_nonzero(group) <= most:
            return np.flatnonzero(group)
        people = self.people
        return thin(
            most,
            viewer=np.flatnonzero(group & self.is_viewer),
            by_cost=people.by_cost[group[people.by_cost]],
            costliest=people.by_cost_desc[group[people.by_cost_desc]][: most // 10],
            most_prs=people.by_prs_desc[group[people.by_prs_desc]][: most // 10],
            size=len(group),
        )

    def at(self, rows: np.ndarray) -> list[ImpactPoint]:
        people, viewer, mode = self.people, self.viewer, self.privacy.board_names
        names_shown = mode == PrivacySettings.BoardNames.NAMES
        columns = zip(
            rows.tolist(),
            people.engineer_id[rows].tolist(),
            people.cost_usd[rows].tolist(),
            people.prs_merged[rows].tolist(),
            people.accepted_lines[rows].tolist(),
            self.in_scope[rows].tolist(),
            strict=True,
        )
        points = []
        for row, engineer_id, cost_units, prs_merged, accepted_lines, in_scope in columns:
            opens = viewer.can_view_engineer(engineer_id)
            points.append(
                ImpactPoint(
                    engineer_id=engineer_id if opens else None,
                    name=display_name(viewer, engineer_id=engineer_id, name=people.name[row], mode=mode),
                    # A pseudonym beside a team name could give the person away in a small team.
                    team=people.team(row) if opens or names_shown else "",
                    cost_usd=people.dollars(cost_units),
                    prs_merged=prs_merged,
                    accepted_lines=accepted_lines,
                    in_scope=in_scope,
                    is_viewer=engineer_id == viewer.engineer_id,
                )
            )
        return points


class FlagList(_Built):
    """Flags (`kinds` of `rows` of `people`, by row then kind), their evidence written when built."""

    def __init__(
        self, people: People, rows: np.ndarray, kinds: np.ndarray, *, recent_days: int, peer_average: Decimal | None
    ):
        super().__init__(len(rows))
        self.people, self.rows, self.kinds = people, rows, kinds
        self.recent_days, self.peer_average = recent_days, peer_average

    def first_looked_at(self, most: int) -> list[Flag]:
        """ImpactPage.flags_shown, ranked over the arrays."""
        order = np.array([FLAG_ORDER.get(kind, 9) for kind in FLAG_KINDS])[self.kinds]
        people, rows = self.people, self.rows
        ranked = np.lexsort((people.engineer_id[rows], -people.cost_usd[rows], order))
        return [self._build(n) for n in ranked[:most].tolist()]

    def _build(self, n: int) -> Flag:
        people, row, kind = self.people, int(self.rows[n]), FLAG_KINDS[self.kinds[n]]
        cost_usd = people.dollars(people.cost_usd[row])
        who = {"engineer_id": int(people.engineer_id[row]), "name": people.name[row], "team": people.team(row)}
        if kind == "idle":
            label = "Spend with no output"
            evidence = (
                f"${people.dollars(people.recent_cost_usd[row]):,.2f} in the last {self.recent_days} days of the "
                "period, and no commit, pull request or accepted line"
            )
        elif kind == "cache":
            tokens, _, output_tokens = counts = people.token_counts(row)
            cache_share, output_share = _cache_shares(*counts)
            label = "Cache reads, almost no output"
            evidence = (
                f"{cache_share:.1%} of {tokens:,} tokens were cache reads; "
                f"output was {output_share:.2%} ({output_tokens:,} tokens)"
            )
        else:
            over = (cost_usd / self.peer_average - 1) * 100
            label = "Spend parked just above average"
            evidence = (
                f"${cost_usd:,.2f} against a peer average of ${self.peer_average:,.2f} "
                f"(+{over:.1f}%, among {people.spenders:,} people with spend)"
            )
        return Flag(kind=kind, label=label, evidence=evidence, cost_usd=cost_usd, **who)


class TeamMonthList(_Built):
    """The team-month table's rows, built when read."""

    def __init__(self, rows: TeamMonthRows, period: Period):
        super().__init__(len(rows))
        self.rows, self.period = rows, period

    def _build(self, n: int) -> TeamMonth:
        return _team_month(self.rows.record(n), self.period)

    def shown(self, per_month: int) -> list[TeamMonth]:
        return [self._build(n) for n in np.flatnonzero(self.rows.place < per_month).tolist()]

    def not_shown(self, per_month: int) -> tuple[int, Decimal]:
        rest = self.rows.place >= per_month
        # Summed as Python ints: an int64 sum of 15,000 teams' spend could overflow.
        return int(np.count_nonzero(rest)), self.rows.dollars(sum(self.rows.cost_usd[rest].tolist()))


@dataclass(frozen=True)
class ImpactPage:
    """What /impact/ shows. From impact_page, `points`, `team_months` and `flags` are built as
    read, and pick what is shown over the kept arrays; given as lists, the same rules run on them."""

    period: Period
    scope: str  # everyone | chain | self | team | engineer
    points: Sequence[ImpactPoint]  # what the scatter draws
    median_cost_usd: Decimal | None
    median_prs: float | None
    team_months: Sequence[TeamMonth]
    flags: Sequence[Flag] | None  # None: this viewer is not shown flags
    people: int  # engineers with spend or outcomes in the period, company-wide
    in_scope_people: int
    has_impact: bool  # any merged PR, commit or accepted line in scope

    @cached_property
    def points_shown(self) -> list[ImpactPoint]:
        """The points the scatter draws: all of them in a small company; past
        POINTS_IN_SCOPE_SHOWN people in scope (POINTS_OTHERS_SHOWN others), the viewer, the
        costliest and those with the most merged PRs, and an even spread of the rest by spend."""
        if isinstance(self.points, PointList):
            return self.points.shown()
        scope = [p for p in self.points if p.in_scope]
        others = [p for p in self.points if not p.in_scope]
        return _thinned(scope, POINTS_IN_SCOPE_SHOWN) + _thinned(others, POINTS_OTHERS_SHOWN)

    @cached_property
    def team_months_shown(self) -> list[TeamMonth]:
        """Per month the TEAMS_PER_MONTH_SHOWN costliest teams, in the table's order."""
        if isinstance(self.team_months, TeamMonthList):
            return self.team_months.shown(TEAMS_PER_MONTH_SHOWN)
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
        if isinstance(self.team_months, TeamMonthList):
            return self.team_months.not_shown(TEAMS_PER_MONTH_SHOWN)
        kept = {id(row) for row in self.team_months_shown}
        rest = [row for row in self.team_months if id(row) not in kept]
        return len(rest), sum((row.cost_usd for row in rest), Decimal(0))

    @cached_property
    def flags_shown(self) -> list[Flag]:
        """The FLAGS_SHOWN flags first looked at: idle spend, then cache, then parked, costliest first."""
        if isinstance(self.flags, FlagList):
            return self.flags.first_looked_at(FLAGS_SHOWN)
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
    recent = _params(period, today)["recent"]
    # Both reads are kept under the versions of what they read (usage.services.computed): 0.5 s
    # and 0.9 s at 50,000 engineers. Everyone's records are the same for every viewer; the team
    # months are kept per scope.
    people = computed(**_people_read(period, today, snapshot), of=People)
    everyone = np.ones(len(people), dtype=bool)
    if scope_ids is None:
        in_scope = everyone
    else:
        in_scope = np.isin(people.engineer_id, np.fromiter(scope_ids, dtype=np.int64, count=len(scope_ids)))
    self_only = privacy.board_names == PrivacySettings.BoardNames.SELF_ONLY
    # Medians of a handful of people would tell a non-manager what the others spent.
    basis = everyone if viewer.sees_everyone or len(people) >= privacy.min_team_size else in_scope
    spenders = basis & (people.cost_usd > 0)
    middle_cost, middle_prs = middle_values(people.cost_usd[spenders]), middle_values(people.prs_merged[spenders])
    scope_list = None if scope_ids is None else sorted(scope_ids)
    team_rows = computed(**_team_months_read(period, today, scope_list), of=TeamMonthRows)
    shows_flags = viewer.sees_everyone or viewer.is_manager
    produced = (people.prs_merged != 0) | (people.commits != 0) | (people.accepted_lines != 0)
    return ImpactPage(
        period=period,
        scope=scope,
        points=PointList(people, np.flatnonzero(in_scope if self_only else everyone), in_scope, viewer, privacy),
        median_cost_usd=median_of([people.dollars(units) for units in middle_cost]) if middle_cost else None,
        median_prs=float(median_of(middle_prs)) if middle_prs else None,
        team_months=TeamMonthList(team_rows, period),
        flags=impact_flags(people=people, in_scope=in_scope, recent_days=(period.end - recent).days)
        if shows_flags
        else None,
        people=len(people),
        in_scope_people=int(np.count_nonzero(in_scope)),
        has_impact=bool(np.any(in_scope & produced)),
    )


def impact_warm(*, period: Period, today: date, snapshot: BoardSnapshot | None) -> bool:
    """Compute ahead what a view of `period` by finance or an admin reads (everyone's records, and
    everyone's team months) when it is not kept at the current versions: after the boards' refresh,
    whose new snapshot the records' key names. True when it computed something."""
    did = False
    for read in (_people_read(period, today, snapshot), _team_months_read(period, today, None)):
        if computed_entry(kind=read["kind"], key=read["key"], versions=VERSIONS_SQL) is None:
            compute_and_store(**read)
            did = True
    return did


def _params(period: Period, today: date) -> dict:
    as_of = min(period.end - timedelta(days=1), today)
    recent = max(period.start, min(period.end, today + timedelta(days=1)) - timedelta(days=settings.IMPACT_IDLE_DAYS))
    return {"start": period.start, "end": period.end, "as_of": as_of, "recent": recent}


def _people_read(period: Period, today: date, snapshot: BoardSnapshot | None) -> dict:
    """Everyone's per-person summary over the period, as a kept read (usage.services.computed)."""
    params = _params(period, today)
    spend = SNAPSHOT_SPEND_SQL if snapshot else LIVE_SPEND_SQL
    people_params = params | {"output_metrics": list(OUTPUT_METRICS), "snapshot": snapshot.pk if snapshot else None}
    return {
        "kind": "impact_people",
        "key": f"{period.start}:{period.end}:{params['as_of']}:{params['recent']}:{snapshot.pk if snapshot else '-'}",
        "versions": VERSIONS_SQL,
        "compute": lambda: people_from(fetch_columns(PEOPLE_SQL.format(spend=spend), people_params)),
    }


def _team_months_read(period: Period, today: date, scope_list: list[int] | None) -> dict:
    """The scope's team months over the period, as a kept read (usage.services.computed)."""
    params = _params(period, today) | {"scope": scope_list}
    return {
        "kind": "impact_teams",
        "key": f"{period.start}:{period.end}:{_scope_key(scope_list)}",
        "versions": VERSIONS_SQL,
        "compute": lambda: team_month_rows_from(fetch_columns(TEAM_MONTHS_SQL, params)),
    }


def _scope_key(scope: list[int] | None) -> str:
    if scope is None:
        return "everyone"
    return hashlib.sha256(",".join(map(str, scope)).encode()).hexdigest()[:32]


def impact_flags(*, people: People, in_scope: np.ndarray, recent_days: int) -> FlagList:
    """The three anti-gaming flags for the people in scope (a mask over `people`), each with the
    numbers that raised it. Thresholds are settings (IMPACT_*), read once; the peer average of
    flag (c) is over everyone with spend."""
    no_one = np.zeros(len(people), dtype=bool)
    # With no outcome data loaded at all, "no output" says nothing about anyone.
    idle = no_one
    if people.outcomes_loaded:
        least = math.ceil(Decimal(str(settings.IMPACT_IDLE_MIN_SPEND_USD)).scaleb(people.scale))
        idle = in_scope & (people.recent_cost_usd >= least) & (people.recent_output == 0)

    read_share, output_most = settings.IMPACT_CACHE_READ_SHARE, settings.IMPACT_CACHE_MAX_OUTPUT_SHARE
    enough = in_scope & (people.tokens >= settings.IMPACT_CACHE_MIN_TOKENS)
    with np.errstate(divide="ignore", invalid="ignore"):
        reads, outputs = people.cache_read_tokens / people.tokens, people.output_tokens / people.tokens
    cache = enough & (reads > read_share) & (outputs < output_most)
    # Summed live, the token counts are Decimals, whose quotient can fall on the other side of a
    # threshold than a float's: the few close to one are decided as the flag's evidence states.
    near = enough & ((np.abs(reads - read_share) < 1e-9) | (np.abs(outputs - output_most) < 1e-9))
    for row in np.flatnonzero(near).tolist():
        cache_share, output_share = _cache_shares(*people.token_counts(row))
        cache[row] = cache_share > read_share and output_share < output_most

    peer_average = people.dollars(people.spend_units) / people.spenders if people.spenders else None
    parked = no_one
    if peer_average and people.spenders >= settings.IMPACT_PARKED_MIN_PEERS:
        ceiling = peer_average * (1 + Decimal(str(settings.IMPACT_PARKED_MARGIN)))
        # Whole units above the average and at most the ceiling: the same as comparing Decimals.
        above, most = math.floor(peer_average.scaleb(people.scale)), math.floor(ceiling.scaleb(people.scale))
        parked = in_scope & (people.cost_usd > above) & (people.cost_usd <= most)

    masks = (idle, cache, parked)  # in FLAG_KINDS' order: a person's flags are listed so
    rows = np.concatenate([np.flatnonzero(mask) for mask in masks])
    kinds = np.repeat(np.arange(len(masks)), [np.count_nonzero(mask) for mask in masks])
    order = np.lexsort((kinds, rows))
    return FlagList(people, rows[order], kinds[order], recent_days=recent_days, peer_average=peer_average)


def _cache_shares(tokens, cache_read_tokens, output_tokens) -> tuple:
    return cache_read_tokens / tokens, output_tokens / tokens


def _thinned(points: list[ImpactPoint], most: int) -> list[ImpactPoint]:
    """At most `most` of `points` (in their order): the viewer, a tenth each of the costliest
    and of those with the most merged PRs (the outliers a reader looks for), then points spread
    evenly along the rest ordered by spend, so the cloud keeps its shape."""
    if len(points) <= most:
        return points
    order = range(len(points))

    def ranked(key) -> np.ndarray:
        return np.array(sorted(order, key=key), dtype=np.int64)

    kept = thin(
        most,
        viewer=np.array([n for n in order if points[n].is_viewer], dtype=np.int64),
        by_cost=ranked(lambda n: (points[n].cost_usd, n)),
        costliest=ranked(lambda n: (-points[n].cost_usd, n))[: most // 10],
        most_prs=ranked(lambda n: (-points[n].prs_merged, n))[: most // 10],
        size=len(points),
    )
    return [points[n] for n in kept.tolist()]


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
