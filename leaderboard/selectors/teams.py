"""Read models for one team's page (/teams/<id>/), over the DailyUsage rollup.

Usage belongs to the team the engineer was in on that day (DailyUsage.team), and a team's
totals include every team below it. Periods are half-open `[start, end)`; series are
zero-filled; the query count does not grow with the team.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Sum

from leaderboard.periods import Period
from leaderboard.selectors.people import MAX_DEPTH, ZERO, DayPoint, day_points, period_days
from usage.models import DailyUsage
from usage.services.computed import ENGINEERS, ROLLUP, TEAMS, compute_and_store, computed, computed_entry, versions_sql

MEMBER_LIMIT = 200  # the members table of a very large team shows its top spenders only

# A team and every team below it. `branch` is the child of the root the row hangs under
# (the root itself for the root), so sub-team totals include their own sub-teams.
SUBTREE_CTE = """
WITH RECURSIVE subtree(id, name, depth, branch) AS (
    SELECT id, name, 0, id FROM usage_team WHERE id = %(team)s
    UNION ALL
    SELECT t.id, t.name, s.depth + 1, CASE WHEN s.depth = 0 THEN t.id ELSE s.branch END
    FROM usage_team t JOIN subtree s ON t.parent_id = s.id
    WHERE s.depth < %(max_depth)s
)
"""

TEAM_TREE_SQL = (
    SUBTREE_CTE
    + """
SELECT s.id, s.name, s.depth, s.branch, p.id, p.name
FROM subtree s
JOIN usage_team t ON t.id = s.id
LEFT JOIN usage_team p ON p.id = t.parent_id
ORDER BY s.depth, s.name
"""
)

# Usage of the subtree in one pass over the rollup, grouped two ways at once: by (day, branch)
# for the chart, and by (branch, engineer) for the head counts, the totals and the members table
# (rows of that set have no day; the data's rows always have one). Counting distinct engineers
# per (day, branch) sorted a month of a big team's rows on disk (1.5 s for 50,000 engineers),
# and a second query summed the same rows again, joined to every row's name (1 s).
TEAM_USAGE_SQL = (
    SUBTREE_CTE
    + """,
cells AS (
    SELECT u.day, s.branch, u.engineer_id, SUM(u.tokens) AS tokens, SUM(u.cost_usd) AS cost_usd
    FROM usage_dailyusage u
    JOIN subtree s ON s.id = u.team_id
    WHERE u.day >= %(start)s AND u.day < %(end)s
    GROUP BY GROUPING SETS ((u.day, s.branch), (s.branch, u.engineer_id))
),
per_engineer AS (
    SELECT engineer_id, SUM(tokens) AS tokens, SUM(cost_usd) AS cost_usd
    FROM cells WHERE day IS NULL GROUP BY engineer_id
)
SELECT 'day' AS kind, day, branch, NULL::bigint AS engineer_id, NULL AS name, tokens, cost_usd, NULL::bigint AS people
FROM cells WHERE day IS NOT NULL
UNION ALL
SELECT 'branch', NULL, branch, NULL, NULL, SUM(tokens), SUM(cost_usd), count(engineer_id)
FROM cells WHERE day IS NULL GROUP BY branch
UNION ALL
-- The whole team; the grand total of no rows is NULL, with no people.
SELECT 'total', NULL, NULL, NULL, NULL, SUM(tokens), SUM(cost_usd), count(engineer_id) FROM per_engineer
UNION ALL
(SELECT 'member', NULL, NULL, p.engineer_id, e.name, p.tokens, p.cost_usd, NULL
 FROM per_engineer p LEFT JOIN usage_engineer e ON e.id = p.engineer_id
 ORDER BY p.cost_usd DESC, e.name, p.engineer_id
 LIMIT %(member_limit)s)
"""
)


@dataclass(frozen=True)
class TeamRef:
    id: int
    name: str


@dataclass(frozen=True)
class SubTeam:
    id: int
    name: str
    teams: int  # itself and every team below it
    people: int  # engineers with usage in it over the period
    tokens: int
    cost_usd: Decimal
    share: float  # of the whole team's spend, 0..1


@dataclass(frozen=True)
class Member:
    engineer_id: int
    name: str
    tokens: int
    cost_usd: Decimal
    share: float  # of the whole team's spend, 0..1
    daily_cost_usd: tuple[Decimal, ...]  # zero-filled, aligned with the period's days


@dataclass(frozen=True)
class TeamUsage:
    team: TeamRef
    parent: TeamRef | None
    period: Period
    team_ids: tuple[int, ...]  # the team and every team below it
    days: tuple[DayPoint, ...]
    branch_days: dict[str, tuple[Decimal, ...]]  # daily spend of the team's own members and each sub-team
    tokens: int
    cost_usd: Decimal
    people: int
    own: SubTeam  # usage of people directly in the team, not in a sub-team
    sub_teams: tuple[SubTeam, ...]
    members: tuple[Member, ...]  # the top MEMBER_LIMIT by spend

    @property
    def members_hidden(self) -> int:
        return max(0, self.people - len(self.members))


# What team_usage reads: the rollup, engineers' names, the team tree.
VERSIONS_SQL = versions_sql(ROLLUP, ENGINEERS, TEAMS)


def team_usage(*, team_id: int, period: Period) -> TeamUsage | None:
    """A team's usage over `period` [start, end), its sub-teams included; usage counts for the
    team the engineer was in on that day. None when there is no such team. One query while
    nothing it reads has changed since a view computed it (usage.services.computed: a big team's
    page aggregates a month of everyone's rows, 1.5 s at 50,000 engineers), else five."""
    return computed(
        kind="team",
        key=_key(team_id, period),
        versions=VERSIONS_SQL,
        compute=lambda: _team_usage(team_id=team_id, period=period),
        of=(TeamUsage, type(None)),
    )


def team_usage_warm(*, team_id: int, period: Period) -> bool:
    """Compute team_usage ahead of the page when it is not kept at the current versions; True
    when it computed."""
    key = _key(team_id, period)
    if computed_entry(kind="team", key=key, versions=VERSIONS_SQL) is not None:
        return False
    compute_and_store(
        kind="team", key=key, versions=VERSIONS_SQL, compute=lambda: _team_usage(team_id=team_id, period=period)
    )
    return True


def _key(team_id: int, period: Period) -> str:
    return f"{team_id}:{period.start}:{period.end}"


def _team_usage(*, team_id: int, period: Period) -> TeamUsage | None:
    """team_usage, read from the tables. Three queries."""
    with connection.cursor() as cursor:
        cursor.execute(TEAM_TREE_SQL, {"team": team_id, "max_depth": MAX_DEPTH})
        tree = cursor.fetchall()
        if not tree:
            return None
        params: dict[str, Any] = {
            "team": team_id,
            "max_depth": MAX_DEPTH,
            "start": period.start,
            "end": period.end,
            "member_limit": MEMBER_LIMIT,
        }
        cursor.execute(TEAM_USAGE_SQL, params)
        usage = cursor.fetchall()
    team_ids = tuple(row[0] for row in tree)
    days = period_days(period, through=max((row[1] for row in usage if row[0] == "day"), default=None))
    totals = _team_totals(tree, [row for row in usage if row[0] != "member"], days)
    top = [row for row in usage if row[0] == "member"]
    return TeamUsage(
        team=TeamRef(tree[0][0], tree[0][1]),
        parent=TeamRef(tree[0][4], tree[0][5]) if tree[0][4] else None,
        period=period,
        team_ids=team_ids,
        members=_members(top, team_ids=team_ids, period=period, days=days, total_cost=totals["cost_usd"]),
        **totals,
    )


def _team_totals(tree: list[tuple], usage: list[tuple], days: list[date]) -> dict[str, Any]:
    """Series and sub-team totals from the day, branch and total rows of the usage."""
    root_id, index = tree[0][0], {day: n for n, day in enumerate(days)}
    daily_tokens, daily_cost = [0] * len(days), [ZERO] * len(days)
    branch_daily: dict[int, list[Decimal]] = {}
    per_branch: dict[int | None, tuple[int, Decimal, int]] = {None: (0, ZERO, 0)}
    for kind, day, branch, _, _, tokens_sum, cost_sum, people in usage:
        tokens, cost = int(tokens_sum or 0), cost_sum or ZERO  # the grand total of no rows is NULL
        if kind == "day":
            daily_tokens[index[day]] += tokens
            daily_cost[index[day]] += cost
            branch_daily.setdefault(branch, [ZERO] * len(days))[index[day]] += cost
        else:
            per_branch[branch] = (tokens, cost, people)  # branch None: the whole team
    tokens, cost, people = per_branch[None]
    branches = _sub_teams(tree, per_branch, cost)
    by_spend = sorted(branches.values(), key=lambda s: (s.id != root_id, -s.cost_usd, s.name))
    return {
        "days": day_points(days, daily_tokens, daily_cost),
        # The team's own members first, then each sub-team by spend: the stacks of the chart.
        "branch_days": {
            f"{b.name} (direct)" if b.id == root_id else b.name: tuple(branch_daily[b.id])
            for b in by_spend
            if b.id in branch_daily
        },
        "tokens": tokens,
        "cost_usd": cost,
        "people": people,
        "own": branches[root_id],
        "sub_teams": tuple(b for b in by_spend if b.id != root_id),
    }


def _sub_teams(tree: list[tuple], per_branch: dict, total_cost: Decimal) -> dict[int, SubTeam]:
    """The root and each of its children, with the totals of everything below them."""
    teams_in_branch: dict[int, int] = defaultdict(int)
    for row in tree:
        teams_in_branch[row[3]] += 1
    result = {}
    for team_id, name, depth, *_ in tree:
        if depth <= 1:
            tokens, cost, people = per_branch.get(team_id, (0, ZERO, 0))
            share = float(cost / total_cost) if total_cost else 0.0
            result[team_id] = SubTeam(team_id, name, teams_in_branch[team_id], people, tokens, cost, share)
    return result


def _members(
    top: list[tuple], *, team_ids: tuple[int, ...], period: Period, days: list[date], total_cost: Decimal
) -> tuple[Member, ...]:
    """The top spenders (the usage query's member rows, biggest spend first) with their
    zero-filled spend on each of `days` in these teams (for sparklines). One query."""
    index = {day: n for n, day in enumerate(days)}
    series: dict[int, list[Decimal]] = {row[3]: [ZERO] * len(days) for row in top}
    if series:
        points = (
            DailyUsage.objects.in_period(period.start, period.end)
            .filter(team_id__in=team_ids, engineer_id__in=list(series))
            .values("engineer_id", "day")
            .annotate(cost=Sum("cost_usd"))
        )
        for point in points:
            series[point["engineer_id"]][index[point["day"]]] = point["cost"]
    return tuple(
        Member(
            engineer_id=engineer_id,
            name=name,
            tokens=int(tokens),
            cost_usd=cost,
            share=float(cost / total_cost) if total_cost else 0.0,
            daily_cost_usd=tuple(series[engineer_id]),
        )
        for _, _, _, engineer_id, name, tokens, cost, _ in top
    )
