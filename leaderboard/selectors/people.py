"""Read models for one person's page (/me/, /engineers/<id>/), over the DailyUsage rollup.

Periods are half-open `[start, end)`. Daily series are zero-filled (every day of the period),
and each selector makes a fixed number of queries whatever the size of the org.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import F, Q, Sum

from leaderboard.periods import Period, month_start
from leaderboard.services import RANK_WEEKS, VERSION_SQL, rank_weeks, snapshot_is_fresh
from usage.models import DailyUsage

MAX_DEPTH = 50  # stops a recursive walk should bad org data ever hold a cycle
ZERO = Decimal(0)
MILLION = Decimal(1_000_000)

# The engineer and their managers up to the top, each with their team of `today`.
PROFILE_SQL = """
WITH RECURSIVE chain(id, depth) AS (
    SELECT id, 0 FROM usage_engineer WHERE id = %(engineer)s
    UNION ALL
    SELECT e.manager_id, c.depth + 1 FROM usage_engineer e JOIN chain c ON e.id = c.id
    WHERE e.manager_id IS NOT NULL AND c.depth < %(max_depth)s
)
SELECT DISTINCT ON (c.depth) e.id, e.name, e.email, e.title, t.id, t.name
FROM chain c
JOIN usage_engineer e ON e.id = c.id
LEFT JOIN usage_teammembership m ON m.engineer_id = e.id AND m.valid_from <= %(today)s
    AND (m.valid_to IS NULL OR m.valid_to > %(today)s)
LEFT JOIN usage_team t ON t.id = m.team_id
ORDER BY c.depth, m.valid_from DESC
"""

# Weekly spend of every engineer, ranked within each week; then one row per week with the
# number of engineers ranked and this engineer's place (NULL in a week they used nothing).
WEEKLY_RANK_SQL = """
WITH weekly AS (
    SELECT engineer_id, date_trunc('week', day::timestamp)::date AS week, SUM(cost_usd) AS cost_usd
    FROM usage_dailyusage
    WHERE engineer_id IS NOT NULL AND day >= %(start)s AND day < %(end)s
    GROUP BY engineer_id, week
), ranked AS (
    SELECT engineer_id, week, cost_usd,
        RANK() OVER (PARTITION BY week ORDER BY cost_usd DESC) AS place,
        CUME_DIST() OVER (PARTITION BY week ORDER BY cost_usd) AS cume
    FROM weekly
)
SELECT week, COUNT(*),
    MAX(place) FILTER (WHERE engineer_id = %(engineer)s),
    MAX(cume) FILTER (WHERE engineer_id = %(engineer)s),
    MAX(cost_usd) FILTER (WHERE engineer_id = %(engineer)s)
FROM ranked
GROUP BY week
ORDER BY week
"""

# The same, from the ranks computed ahead, with what decides whether they are current.
STORED_WEEKLY_RANK_SQL = f"""
SELECT w.week, w.people, r.rank, r.cume, r.cost_usd, w.version, w.built_at, ({VERSION_SQL}) AS current
FROM leaderboard_weeklyranking w
LEFT JOIN leaderboard_weeklyrank r ON r.week = w.week AND r.engineer_id = %(engineer)s
WHERE w.week = ANY(%(weeks)s)
"""


@dataclass(frozen=True)
class DayPoint:
    day: date
    tokens: int
    cost_usd: Decimal


@dataclass(frozen=True)
class Slice:
    """One part of a total: a vendor, a tool ("vendor/product"), a model, a sub-team."""

    key: str
    tokens: int
    cost_usd: Decimal
    share: float  # of the total spend, 0..1

    @property
    def usd_per_million(self) -> Decimal | None:
        return self.cost_usd * MILLION / self.tokens if self.tokens else None


@dataclass(frozen=True)
class CacheEfficiency:
    input_tokens: int  # uncached + cache reads + cache writes
    cache_read_tokens: int
    tokens: int
    cost_usd: Decimal

    @property
    def read_share(self) -> float | None:
        """The share of input tokens served from the cache (billed at about a tenth)."""
        return self.cache_read_tokens / self.input_tokens if self.input_tokens else None

    @property
    def usd_per_million(self) -> Decimal | None:
        return self.cost_usd * MILLION / self.tokens if self.tokens else None


@dataclass(frozen=True)
class MonthToDate:
    """This month up to today, against the same number of days of last month and all of it."""

    days: int  # days of this month so far, today included
    tokens: int
    cost_usd: Decimal
    last_same_days_tokens: int
    last_same_days_cost_usd: Decimal
    last_month_tokens: int
    last_month_cost_usd: Decimal

    @property
    def change(self) -> float | None:
        if not self.last_same_days_cost_usd:
            return None
        return float((self.cost_usd - self.last_same_days_cost_usd) / self.last_same_days_cost_usd)


@dataclass(frozen=True)
class RankPoint:
    week: date  # its Monday
    engineers: int  # engineers with usage that week
    rank: int | None  # by spend, 1 = the biggest; None when this engineer used nothing
    percentile: int | None  # share of engineers spending no more than this one, 1..100
    cost_usd: Decimal
    days: int = 7  # of the week ranked: fewer for the week still running (a rank of a part-week)


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    email: str
    title: str
    team_id: int | None
    team_name: str | None


@dataclass(frozen=True)
class EngineerUsage:
    person: Person
    managers: tuple[Person, ...]  # the direct manager first
    period: Period
    days: tuple[DayPoint, ...]
    vendor_days: dict[str, tuple[Decimal, ...]]  # daily spend per vendor, aligned with days
    by_vendor: tuple[Slice, ...]
    by_tool: tuple[Slice, ...]  # keys "vendor/product": one vendor's "api" is not another's
    by_model: tuple[Slice, ...]
    cache: CacheEfficiency
    requests: int
    month: MonthToDate
    ranks: tuple[RankPoint, ...]

    @property
    def tokens(self) -> int:
        return self.cache.tokens

    @property
    def cost_usd(self) -> Decimal:
        return self.cache.cost_usd

    @property
    def latest_rank(self) -> RankPoint | None:
        return next((point for point in reversed(self.ranks) if point.rank), None)

    @property
    def has_any_usage(self) -> bool:
        return bool(self.tokens or self.month.tokens or self.month.last_month_tokens or self.latest_rank)


@dataclass
class Totals:
    """A running sum while rows are folded into a breakdown."""

    tokens: int = 0
    cost_usd: Decimal = ZERO

    def add(self, tokens: int, cost_usd: Decimal) -> None:
        self.tokens += tokens
        self.cost_usd += cost_usd


def period_days(period: Period, *, through: date | None = None) -> list[date]:
    """The period's days up to today: a running month's days to come are not drawn as $0. Usage
    dated after today (an export from a clock ahead of ours) is drawn: `through` is the last day
    with usage, and the days run to it."""
    last = period.elapsed_end or period.end
    if through is not None:
        last = min(max(last, through + timedelta(days=1)), period.end)
    return [period.start + timedelta(days=n) for n in range((last - period.start).days)]


def day_points(days: list[date], tokens: list[int], costs: list[Decimal]) -> tuple[DayPoint, ...]:
    return tuple(DayPoint(*point) for point in zip(days, tokens, costs, strict=True))


def slices(totals: dict[str, Totals], total_cost: Decimal) -> tuple[Slice, ...]:
    """Totals per key as slices, the biggest spend first."""
    rows = [
        Slice(key, sums.tokens, sums.cost_usd, float(sums.cost_usd / total_cost) if total_cost else 0.0)
        for key, sums in totals.items()
    ]
    return tuple(sorted(rows, key=lambda s: (-s.cost_usd, -s.tokens, s.key)))


def engineer_usage(*, engineer_id: int, period: Period, today: date) -> EngineerUsage | None:
    """One person's usage over `period` [start, end), their month to date (as of `today`) and
    weekly rank; None when there is no such engineer. Four or five queries (engineer_weekly_ranks)."""
    chain = engineer_chain(engineer_id=engineer_id, today=today)
    if not chain:
        return None
    rows = (
        DailyUsage.objects.filter(engineer_id=engineer_id)
        .in_period(period.start, period.end)
        .values("day", "vendor", "product", "model")
        .annotate(
            input_sum=Sum(F("input_uncached_tokens") + F("cache_read_tokens") + F("cache_write_tokens")),
            cache_read_sum=Sum("cache_read_tokens"),
            tokens_sum=Sum("tokens"),
            requests_sum=Sum("requests"),
            cost=Sum("cost_usd"),
        )
    )
    rows = list(rows)
    return EngineerUsage(
        person=chain[0],
        managers=tuple(chain[1:]),
        period=period,
        month=engineer_month_to_date(engineer_id=engineer_id, today=today),
        ranks=engineer_weekly_ranks(engineer_id=engineer_id, until=min(period.end - timedelta(days=1), today)),
        **_engineer_totals(rows, period_days(period, through=max((row["day"] for row in rows), default=None))),
    )


def _engineer_totals(rows: list[dict[str, Any]], days: list[date]) -> dict[str, Any]:
    """The daily series and the breakdowns from rows per (day, vendor, product, model)."""
    index = {day: n for n, day in enumerate(days)}
    daily_tokens, daily_cost = [0] * len(days), [ZERO] * len(days)
    vendor_days: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO] * len(days))
    groups: dict[str, dict[str, Totals]] = {"vendor": {}, "tool": {}, "model": {}}
    input_tokens = cache_read = requests = 0
    for row in rows:
        tokens, cost, n = int(row["tokens_sum"]), row["cost"], index[row["day"]]
        daily_tokens[n] += tokens
        daily_cost[n] += cost
        vendor_days[row["vendor"]][n] += cost
        keys = {"vendor": row["vendor"], "tool": f"{row['vendor']}/{row['product']}", "model": row["model"]}
        for field, key in keys.items():
            groups[field].setdefault(key, Totals()).add(tokens, cost)
        input_tokens += int(row["input_sum"])
        cache_read += int(row["cache_read_sum"])
        requests += int(row["requests_sum"])
    tokens, cost = sum(daily_tokens), sum(daily_cost, ZERO)
    return {
        "days": day_points(days, daily_tokens, daily_cost),
        "vendor_days": {vendor: tuple(values) for vendor, values in sorted(vendor_days.items())},
        "by_vendor": slices(groups["vendor"], cost),
        "by_tool": slices(groups["tool"], cost),
        "by_model": slices(groups["model"], cost),
        "cache": CacheEfficiency(input_tokens=input_tokens, cache_read_tokens=cache_read, tokens=tokens, cost_usd=cost),
        "requests": requests,
    }


def engineer_chain(*, engineer_id: int, today: date) -> list[Person]:
    """The engineer then their managers upwards, each with their team on `today`. One query."""
    with connection.cursor() as cursor:
        cursor.execute(PROFILE_SQL, {"engineer": engineer_id, "today": today, "max_depth": MAX_DEPTH})
        return [Person(*row) for row in cursor.fetchall()]


def engineer_month_to_date(*, engineer_id: int, today: date) -> MonthToDate:
    """Spend this month through `today`, last month over the same days, and all of last month."""
    this_month, last_month = month_start(today), month_start(today, -1)
    elapsed = (today - this_month).days + 1
    same_days = Q(day__lt=min(last_month + timedelta(days=elapsed), this_month))
    sums = (
        DailyUsage.objects.filter(engineer_id=engineer_id)
        .in_period(last_month, today + timedelta(days=1))
        .aggregate(
            this_tokens=Sum("tokens", filter=Q(day__gte=this_month)),
            this_cost=Sum("cost_usd", filter=Q(day__gte=this_month)),
            same_tokens=Sum("tokens", filter=same_days),
            same_cost=Sum("cost_usd", filter=same_days),
            last_tokens=Sum("tokens", filter=Q(day__lt=this_month)),
            last_cost=Sum("cost_usd", filter=Q(day__lt=this_month)),
        )
    )
    return MonthToDate(
        days=elapsed,
        tokens=int(sums["this_tokens"] or 0),
        cost_usd=sums["this_cost"] or ZERO,
        last_same_days_tokens=int(sums["same_tokens"] or 0),
        last_same_days_cost_usd=sums["same_cost"] or ZERO,
        last_month_tokens=int(sums["last_tokens"] or 0),
        last_month_cost_usd=sums["last_cost"] or ZERO,
    )


def engineer_weekly_ranks(*, engineer_id: int, until: date, weeks: int = RANK_WEEKS) -> tuple[RankPoint, ...]:
    """Rank by spend among engineers with usage, per ISO week, for the `weeks` weeks ending
    with the one holding `until`; every week is present. One query from the weekly ranks computed
    ahead (leaderboard.services) when they are all there and current, else a second one that
    ranks everyone live (window functions)."""
    mondays = rank_weeks(until=until, weeks=weeks)
    with connection.cursor() as cursor:
        cursor.execute(STORED_WEEKLY_RANK_SQL, {"engineer": engineer_id, "weeks": mondays})
        stored = cursor.fetchall()
        if len(stored) == len(mondays) and all(
            snapshot_is_fresh(version=version, current_version=current, built_at=built_at)
            for *_, version, built_at, current in stored
        ):
            found = {row[0]: row[:5] for row in stored}
        else:
            params: dict[str, Any] = {
                "engineer": engineer_id,
                "start": mondays[0],
                "end": mondays[-1] + timedelta(weeks=1),
            }
            cursor.execute(WEEKLY_RANK_SQL, params)
            found = {row[0]: row for row in cursor.fetchall()}
    points = []
    for monday in mondays:
        _, engineers, rank, cume, cost = found.get(monday, (monday, 0, None, None, None))
        percentile = max(1, round(cume * 100)) if cume is not None else None
        days = min((until - monday).days + 1, 7)
        points.append(RankPoint(monday, engineers, rank, percentile, cost or ZERO, days))
    return tuple(points)
