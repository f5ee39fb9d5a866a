"""/impact/'s kept reads as columns (usage.services.computed): everyone's per-person summary and
the team months, a NumPy array per column, so that a view loads them in milliseconds and picks
what it shows over the arrays (a list of 50,000 dicts of Decimals took 0.26 s to unpickle and
0.8 s more to go through per view). Money is kept exact, in whole units of 10**-scale dollars."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
from django.db import connection


@dataclass(frozen=True)
class People:
    """Everyone's per-person summary over a period (PEOPLE_SQL), a NumPy array per column, rows
    in engineer id order: kept so, a view loads it in milliseconds (a list of 50,000 dicts of
    Decimals took 0.26 s to unpickle). Money is in whole units of 10**-scale dollars: exact, and
    an int64 holds $922M a person at the rollup's 10 decimal places."""

    engineer_id: np.ndarray
    name: list[str]
    team_code: np.ndarray  # into `teams`
    teams: list[str]  # "No team" for none
    cost_usd: np.ndarray
    recent_cost_usd: np.ndarray
    scale: int
    tokens: np.ndarray
    cache_read_tokens: np.ndarray
    output_tokens: np.ndarray
    decimal_tokens: bool  # summed live they are numeric (Decimal), from a snapshot bigint (int)
    prs_merged: np.ndarray
    commits: np.ndarray
    accepted_lines: np.ndarray
    recent_output: np.ndarray
    # What no viewer changes, worked out once: sort orders (ties by row), and the spenders.
    by_cost: np.ndarray
    by_cost_desc: np.ndarray
    by_prs_desc: np.ndarray
    spenders: int
    spend_units: int
    outcomes_loaded: bool

    def __len__(self) -> int:
        return len(self.engineer_id)

    def dollars(self, units) -> Decimal:
        return Decimal(int(units)).scaleb(-self.scale)

    def team(self, row: int) -> str:
        return self.teams[self.team_code[row]]

    def token_counts(self, row: int) -> tuple:
        """Tokens, cache reads and output of a row, typed as the query gave them."""
        counts = (int(self.tokens[row]), int(self.cache_read_tokens[row]), int(self.output_tokens[row]))
        return tuple(map(Decimal, counts)) if self.decimal_tokens else counts


@dataclass(frozen=True)
class TeamMonthRows:
    """The scope's team months (TEAM_MONTHS_SQL) a NumPy array per column, in the table's
    order, with each row's place in its month by spend, worked out once."""

    month: np.ndarray  # date ordinals
    team_key: np.ndarray
    team_name: list[str | None]
    cost_usd: np.ndarray  # in units of 10**-scale dollars, as People
    scale: int
    tokens: np.ndarray
    prs_merged: np.ndarray
    accepted_lines: np.ndarray
    ai_prs: np.ndarray
    place: np.ndarray  # 0 for the month's costliest team, ties by team name, then table order

    def __len__(self) -> int:
        return len(self.month)

    def dollars(self, units) -> Decimal:
        return Decimal(int(units)).scaleb(-self.scale)

    def record(self, row: int) -> dict:
        """The row as TEAM_MONTHS_SQL gave it (money exact, counts as ints)."""
        return {
            "month": date.fromordinal(int(self.month[row])),
            "team_key": int(self.team_key[row]),
            "team_name": self.team_name[row],
            "cost_usd": self.dollars(self.cost_usd[row]),
            "tokens": int(self.tokens[row]),
            "prs_merged": int(self.prs_merged[row]),
            "accepted_lines": int(self.accepted_lines[row]),
            "ai_prs": int(self.ai_prs[row]),
        }


def middle_values(values: np.ndarray) -> list[int]:
    """The middle one of `values`, or the two middle ones of an even count (none of none)."""
    if not len(values):
        return []
    half = len(values) // 2
    picks = [half] if len(values) % 2 else [half - 1, half]
    return np.partition(values, picks)[picks].tolist()


def median_of(middle: list):
    """statistics.median's result from _middle's values: the middle one, or the two's mean."""
    return middle[0] if len(middle) == 1 else (middle[0] + middle[1]) / 2


def thin(
    most: int, *, viewer: np.ndarray, by_cost: np.ndarray, costliest: np.ndarray, most_prs: np.ndarray, size: int
) -> np.ndarray:
    """_thinned's choice, as rows out of `size`: the group's rows ordered by (spend, row), its
    costliest and those with the most merged PRs (ties by row) are given; returns them sorted."""
    kept = np.zeros(size, dtype=bool)
    kept[viewer] = kept[costliest] = kept[most_prs] = True
    rest = by_cost[~kept[by_cost]]
    room = most - int(np.count_nonzero(kept))
    if room > 0:
        # int(k * len(rest) / room), a float quotient truncated, as the list version always did.
        kept[rest[(np.arange(room, dtype=np.int64) * len(rest) / room).astype(np.int64)]] = True
    return np.flatnonzero(kept)


def people_from(columns: dict[str, list]) -> People:
    scale = _scale(columns["cost_usd"], columns["recent_cost_usd"])
    cost, prs = _units(columns["cost_usd"], scale), _ints(columns["prs_merged"])
    teams: dict[str, int] = {}
    team_code = [teams.setdefault(name or "No team", len(teams)) for name in columns["team_name"]]
    outcomes = [_ints(columns[name]) for name in ("prs_merged", "commits", "accepted_lines", "recent_output")]
    return People(
        engineer_id=_ints(columns["engineer_id"]),
        name=columns["name"],
        team_code=np.array(team_code, dtype=np.int32),
        teams=list(teams),
        cost_usd=cost,
        recent_cost_usd=_units(columns["recent_cost_usd"], scale),
        scale=scale,
        tokens=_ints(columns["tokens"]),
        cache_read_tokens=_ints(columns["cache_read_tokens"]),
        output_tokens=_ints(columns["output_tokens"]),
        decimal_tokens=any(isinstance(value, Decimal) for value in columns["tokens"]),
        prs_merged=prs,
        commits=outcomes[1],
        accepted_lines=outcomes[2],
        recent_output=outcomes[3],
        by_cost=np.argsort(cost, kind="stable").astype(np.int32),
        by_cost_desc=np.argsort(-cost, kind="stable").astype(np.int32),
        by_prs_desc=np.argsort(-prs, kind="stable").astype(np.int32),
        spenders=int(np.count_nonzero(cost > 0)),
        spend_units=sum(cost[cost > 0].tolist()),  # Python ints: an int64 sum could overflow
        outcomes_loaded=any(bool(np.any(column)) for column in outcomes),
    )


def team_month_rows_from(columns: dict[str, list]) -> TeamMonthRows:
    scale = _scale(columns["cost_usd"])
    cost = _units(columns["cost_usd"], scale)
    months, costs = columns["month"], cost.tolist()
    teams = [name or "No team" for name in columns["team_name"]]
    place, taken = np.zeros(len(months), dtype=np.int32), {}
    for row in sorted(range(len(months)), key=lambda row: (months[row], -costs[row], teams[row])):
        place[row] = taken[months[row]] = taken.get(months[row], -1) + 1
    return TeamMonthRows(
        month=np.array([month.toordinal() for month in months], dtype=np.int32),
        team_key=_ints(columns["team_key"]),
        team_name=columns["team_name"],
        cost_usd=cost,
        scale=scale,
        tokens=_ints(columns["tokens"]),
        prs_merged=_ints(columns["prs_merged"]),
        accepted_lines=_ints(columns["accepted_lines"]),
        ai_prs=_ints(columns["ai_prs"]),
        place=place,
    )


def _scale(*columns: list) -> int:
    """The decimal places that hold every value of `columns` exactly."""
    return max([0, *(-Decimal(value).as_tuple().exponent for column in columns for value in column)])


def _units(values: list, scale: int) -> np.ndarray:
    return np.array([int(Decimal(value).scaleb(scale)) for value in values], dtype=np.int64)


def _ints(values: list) -> np.ndarray:
    return np.array([int(value) for value in values], dtype=np.int64)


def fetch_columns(sql: str, params: dict) -> dict[str, list]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [col.name for col in cursor.description]
        columns = list(zip(*cursor.fetchall(), strict=True)) or [()] * len(names)
    return {name: list(values) for name, values in zip(names, columns, strict=True)}
