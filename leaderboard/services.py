"""Boards computed ahead: the people and team boards of each preset period and the weekly spend ranks.

Ranking 50,000 engineers over a quarter of the rollup takes seconds; a page cannot pay that per
request. After every import (queued on commit) and from beat, `board_snapshots_refresh` ranks
everyone once per preset period into BoardEntry rows with a rank for each sort metric, and the
page reads one page of them by index; each team's totals go into TeamBoardEntry rows, which the
team board ranks when read (a few thousand rows). A snapshot is trusted while the rollup's version (a
sequence advanced by a trigger on every write to usage_dailyusage) has not moved since it was
built; otherwise pages rank live (leaderboard/selectors/board.py). A refresh rebuilds only what
reads days that changed (another trigger logs each write's days in usage_rollup_change).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from leaderboard.models import BoardSnapshot, WeeklyRanking
from leaderboard.periods import PRESETS, Period, preset_period
from leaderboard.selectors.board_sql import TEAM_TOTALS_SQL, TOPS_SQL
from usage.services.computed import one_snapshot

# Weeks of "my rank over time" on /me/.
RANK_WEEKS = 12
# pg_try_advisory_xact_lock key: one refresh at a time ("tb" "board").
REFRESH_LOCK = 0x7462_626F_6172_64

VERSION_SQL = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM usage_rollup_version"

# Everyone with usage in the period, ranked by each metric at once. The value orders match the
# live query's (leaderboard/selectors/board_sql.py METRIC_SQL) so both paths rank alike.
ENTRIES_SQL = f"""
INSERT INTO leaderboard_boardentry (
    snapshot_id, engineer_id, team_id, tokens, cost_usd, cache_read_tokens, output_tokens, model_count,
    prev_tokens, prev_cost_usd, top_model, top_tool,
    rank_tokens, rank_spend, rank_tokens_per_usd, pct_tokens, pct_spend, pct_tokens_per_usd)
WITH per AS (
    SELECT d.engineer_id,
           sum(d.tokens) FILTER (WHERE d.day >= %(start)s) AS tokens,
           sum(d.cost_usd) FILTER (WHERE d.day >= %(start)s) AS cost_usd,
           sum(d.cache_read_tokens) FILTER (WHERE d.day >= %(start)s) AS cache_read_tokens,
           sum(d.output_tokens) FILTER (WHERE d.day >= %(start)s) AS output_tokens,
           sum(d.tokens) FILTER (WHERE d.day < %(prev_end)s) AS prev_tokens,
           sum(d.cost_usd) FILTER (WHERE d.day < %(prev_end)s) AS prev_cost_usd
    FROM usage_dailyusage d
    WHERE d.day >= %(prev_start)s AND d.day < %(end)s AND d.engineer_id IS NOT NULL
    GROUP BY d.engineer_id
    HAVING count(*) FILTER (WHERE d.day >= %(start)s) > 0
),
cells AS (
    SELECT d.engineer_id, d.team_id, d.model, d.vendor, d.product, max(d.day) AS last_day, sum(d.tokens) AS tokens
    FROM usage_dailyusage d
    WHERE d.day >= %(start)s AND d.day < %(end)s AND d.engineer_id IS NOT NULL
    GROUP BY d.engineer_id, d.team_id, d.model, d.vendor, d.product
),
models AS (
    SELECT engineer_id, count(DISTINCT model) AS models FROM cells GROUP BY engineer_id
),
{TOPS_SQL},
scored AS (
    SELECT per.*, per.tokens::numeric AS v_tokens, per.cost_usd AS v_spend,
           per.tokens / NULLIF(per.cost_usd, 0) AS v_tpu, count(*) OVER () AS people
    FROM per
)
SELECT %(snapshot)s, s.engineer_id, lt.team_id, s.tokens, s.cost_usd, s.cache_read_tokens, s.output_tokens,
       m.models, s.prev_tokens, s.prev_cost_usd, tm.top_model, tt.top_tool,
       row_number() OVER (ORDER BY s.v_tokens DESC NULLS LAST, s.engineer_id),
       row_number() OVER (ORDER BY s.v_spend DESC NULLS LAST, s.engineer_id),
       row_number() OVER (ORDER BY s.v_tpu DESC NULLS LAST, s.engineer_id),
       CASE WHEN s.people = 1 THEN 1 ELSE percent_rank() OVER (ORDER BY s.v_tokens ASC NULLS FIRST) END,
       CASE WHEN s.people = 1 THEN 1 ELSE percent_rank() OVER (ORDER BY s.v_spend ASC NULLS FIRST) END,
       CASE WHEN s.people = 1 THEN 1 ELSE percent_rank() OVER (ORDER BY s.v_tpu ASC NULLS FIRST) END
FROM scored s
JOIN models m USING (engineer_id)
JOIN top_model tm USING (engineer_id)
JOIN top_tool tt USING (engineer_id)
JOIN last_team lt USING (engineer_id)
"""

# The team board's rows: the live team board's own per-team totals (TEAM_TOTALS_SQL), unfiltered,
# so that both paths rank the same numbers.
TEAM_ENTRIES_SQL = f"""
INSERT INTO leaderboard_teamboardentry (snapshot_id, team_id, members, tokens, cost_usd, prev_tokens, prev_cost_usd)
WITH {TEAM_TOTALS_SQL}
SELECT %(snapshot)s, team_id, members, tokens, cost_usd, prev_tokens, prev_cost_usd FROM per_team
"""
NO_FILTER = {"vendor": "", "product": "", "team_ids": None}

# The snapshot's totals, title holders (as the live query picks them) and vendor/product pairs.
SUMMARY_SQL = """
WITH ranked AS (
    SELECT engineer_id, tokens, prev_tokens,
           cache_read_tokens::numeric / NULLIF(tokens - output_tokens, 0) AS cache_share,
           output_tokens::numeric / NULLIF(tokens, 0) AS output_share,
           tokens / NULLIF(cost_usd, 0) AS tokens_per_usd,
           tokens::numeric / NULLIF(prev_tokens, 0) AS growth, model_count AS models
    FROM leaderboard_boardentry WHERE snapshot_id = %(snapshot)s
),
contenders AS (
    SELECT * FROM ranked WHERE tokens >= (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY tokens) FROM ranked)
)
SELECT
    (SELECT count(*) FROM ranked),
    (SELECT coalesce(sum(tokens), 0) FROM leaderboard_boardentry WHERE snapshot_id = %(snapshot)s),
    (SELECT coalesce(sum(cost_usd), 0) FROM leaderboard_boardentry WHERE snapshot_id = %(snapshot)s),
    (SELECT coalesce(sum(tokens), 0) FROM usage_dailyusage
     WHERE engineer_id IS NULL AND day >= %(start)s AND day < %(end)s),
    (SELECT coalesce(sum(cost_usd), 0) FROM usage_dailyusage
     WHERE engineer_id IS NULL AND day >= %(start)s AND day < %(end)s),
    jsonb_strip_nulls(jsonb_build_object(
        'token_legend', (SELECT engineer_id FROM ranked ORDER BY tokens DESC, engineer_id LIMIT 1),
        'model_connoisseur', (SELECT engineer_id FROM ranked WHERE models > 1
                              ORDER BY models DESC, tokens DESC, engineer_id LIMIT 1),
        'cache_wizard', (SELECT engineer_id FROM contenders WHERE cache_share > 0
                         ORDER BY cache_share DESC, engineer_id LIMIT 1),
        'frugal_virtuoso', (SELECT engineer_id FROM contenders WHERE tokens_per_usd IS NOT NULL
                            ORDER BY tokens_per_usd DESC, engineer_id LIMIT 1),
        'output_artisan', (SELECT engineer_id FROM contenders WHERE output_share > 0
                           ORDER BY output_share DESC, engineer_id LIMIT 1),
        'rising_star', (SELECT engineer_id FROM contenders WHERE growth > 1
                        ORDER BY growth DESC, engineer_id LIMIT 1)
    )),
    (SELECT coalesce(jsonb_agg(jsonb_build_array(vendor, product) ORDER BY vendor, product), '[]'::jsonb)
     FROM (SELECT DISTINCT vendor, product FROM usage_dailyusage
           WHERE day >= %(start)s AND day < %(end)s) pairs)
"""

# Spend of every engineer in each of the given ISO weeks, ranked within the week.
WEEKLY_SQL = """
INSERT INTO leaderboard_weeklyrank (week, engineer_id, cost_usd, rank, cume)
SELECT week, engineer_id, cost_usd,
       rank() OVER (PARTITION BY week ORDER BY cost_usd DESC),
       cume_dist() OVER (PARTITION BY week ORDER BY cost_usd)
FROM (
    SELECT date_trunc('week', day::timestamp)::date AS week, engineer_id, sum(cost_usd) AS cost_usd
    FROM usage_dailyusage
    WHERE engineer_id IS NOT NULL AND day >= %(start)s AND day < %(end)s
    GROUP BY 1, 2
) weekly
WHERE week = ANY(%(weeks)s)
"""


class RefreshBusy(Exception):
    """Another refresh holds the lock; the caller retries later."""


@dataclass(frozen=True)
class RefreshResult:
    version: int
    periods: list[Period]  # rebuilt
    weeks: list[date]  # rebuilt
    seconds: float


def rollup_version() -> int:
    with connection.cursor() as cursor:
        cursor.execute(VERSION_SQL)
        return cursor.fetchone()[0]


def snapshot_periods(*, today: date) -> list[Period]:
    """The preset periods a snapshot is kept for (distinct ranges: "month" and "quarter" can match)."""
    seen: dict[tuple[date, date], Period] = {}
    for preset in PRESETS:
        period = preset_period(preset, today)
        seen.setdefault((period.start, period.end), period)
    return list(seen.values())


def rank_weeks(*, until: date, weeks: int = RANK_WEEKS) -> list[date]:
    """The Mondays of the `weeks` ISO weeks ending with the one holding `until`, oldest first."""
    last_monday = until - timedelta(days=until.weekday())
    return [last_monday - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]


def snapshot_is_fresh(*, version: int, current_version: int, built_at: datetime) -> bool:
    """Trusted when nothing was written since it was built, or when it is younger than the
    staleness the deployment accepts (a busy ingest would otherwise keep pages on the live path)."""
    if version == current_version:
        return True
    max_stale = settings.LEADERBOARD_SNAPSHOT_MAX_STALE_SECONDS
    return max_stale > 0 and timezone.now() - built_at < timedelta(seconds=max_stale)


def board_snapshots_refresh(*, today: date | None = None) -> RefreshResult:
    """Rebuild each preset period's board snapshot and each recent week's ranks that is missing
    or whose days the rollup changed since (usage_rollup_change, a row per statement that wrote
    usage_dailyusage); the others are confirmed current at the rollup's version. Idempotent;
    raises RefreshBusy while another refresh runs.

    One REPEATABLE READ transaction: every snapshot of a run reads the same rollup, and pages see
    the old snapshots until the new ones commit. It deletes the change rows it saw: one committed
    after its snapshot (an import finishing meanwhile) stays for the next refresh.
    """
    today = today or timezone.localdate()
    started = time.perf_counter()
    with one_snapshot():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [REFRESH_LOCK])
            if not cursor.fetchone()[0]:
                raise RefreshBusy("another leaderboard refresh is running")
            version = rollup_version()
            cursor.execute("SELECT now()")
            built_at = cursor.fetchone()[0]

        def compares_elsewhere(row, period: Period) -> bool:  # a running month's, on a new day
            return (row.prev_start, row.prev_end) != (period.previous.start, period.previous.end)

        periods = snapshot_periods(today=today)
        weeks = rank_weeks(until=today)
        # What a period's board reads: its days and the previous period's (the change columns).
        changed = _changed([(p.previous.start, p.end) for p in periods] + [(w, w + timedelta(weeks=1)) for w in weeks])
        existing = {(s.start, s.end): s for s in BoardSnapshot.objects.filter(start__gte=min(p.start for p in periods))}
        rebuilt = []
        for period, moved in zip(periods, changed[: len(periods)], strict=True):
            row = existing.get((period.start, period.end))
            if row is None or moved or compares_elsewhere(row, period):
                _period_build(period, version=version, built_at=built_at)
                rebuilt.append(period)
        keep = {(p.start, p.end) for p in periods}
        _snapshots_delete([s.pk for s in BoardSnapshot.objects.all() if (s.start, s.end) not in keep])

        ranked = set(WeeklyRanking.objects.filter(week__in=weeks).values_list("week", flat=True))
        stale_weeks = [w for w, moved in zip(weeks, changed[len(periods) :], strict=True) if moved or w not in ranked]
        if stale_weeks:
            _weeks_build(stale_weeks, version=version, built_at=built_at)
        _weeks_delete(list(WeeklyRanking.objects.filter(week__lt=weeks[0]).values_list("week", flat=True)))
        # The rest read days nothing changed: current as of this version (pages trust it).
        BoardSnapshot.objects.exclude(version=version).update(version=version, built_at=built_at)
        WeeklyRanking.objects.exclude(version=version).update(version=version, built_at=built_at)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM usage_rollup_change")  # the rows this snapshot sees: all built in
            # The new snapshots' ids are past the statistics' histogram: the planner took the page's
            # snapshot for one row and scanned all its 50,000 entries (12 ms instead of 1) until
            # autovacuum analysed the table, a minute or more later. Analysed here, in this
            # transaction, the statistics count its rows and commit with them (0.3 s).
            if rebuilt:
                cursor.execute("ANALYZE leaderboard_boardentry, leaderboard_teamboardentry")
            if stale_weeks:
                cursor.execute("ANALYZE leaderboard_weeklyrank")
    return RefreshResult(version, rebuilt, stale_weeks, round(time.perf_counter() - started, 3))


# Which of the day ranges [lo, hi) a logged change of the rollup overlaps.
CHANGED_SQL = """
SELECT EXISTS (SELECT 1 FROM usage_rollup_change c WHERE c.first_day < r.hi AND c.last_day >= r.lo)
FROM unnest(%s::date[], %s::date[]) WITH ORDINALITY AS r(lo, hi, n)
ORDER BY r.n
"""


def _changed(ranges: list[tuple[date, date]]) -> list[bool]:
    with connection.cursor() as cursor:
        cursor.execute(CHANGED_SQL, [[lo for lo, _ in ranges], [hi for _, hi in ranges]])
        return [row[0] for row in cursor.fetchall()]


def _period_build(period: Period, *, version: int, built_at: datetime) -> None:
    started = time.perf_counter()
    _snapshots_delete(
        list(BoardSnapshot.objects.filter(start=period.start, end=period.end).values_list("pk", flat=True))
    )
    previous = period.previous
    snapshot = BoardSnapshot.objects.create(
        start=period.start,
        end=period.end,
        prev_start=previous.start,
        prev_end=previous.end,
        version=version,
        built_at=built_at,
    )
    params = {
        "snapshot": snapshot.pk,
        "start": period.start,
        "end": period.end,
        "prev_start": previous.start,
        "prev_end": previous.end,
    }
    with connection.cursor() as cursor:
        cursor.execute(ENTRIES_SQL, params)
        cursor.execute(TEAM_ENTRIES_SQL, params | NO_FILTER)
        cursor.execute(SUMMARY_SQL, params)
        people, tokens, cost, unmapped_tokens, unmapped_cost, titles, vendors = cursor.fetchone()
    snapshot.people, snapshot.total_tokens, snapshot.total_cost_usd = people, tokens, cost
    snapshot.unmapped_tokens, snapshot.unmapped_cost_usd = unmapped_tokens, unmapped_cost
    # Django's psycopg setup hands raw jsonb over as text.
    snapshot.titles, snapshot.vendors = (json.loads(v) if isinstance(v, str) else v for v in (titles, vendors))
    snapshot.build_ms = round((time.perf_counter() - started) * 1000)
    snapshot.save()


def _weeks_build(weeks: list[date], *, version: int, built_at: datetime) -> None:
    _weeks_delete(weeks)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO leaderboard_weeklyranking (week, people, version, built_at) "
            "SELECT w, 0, %s, %s FROM unnest(%s::date[]) w",
            [version, built_at, weeks],
        )
        cursor.execute(WEEKLY_SQL, {"weeks": weeks, "start": weeks[0], "end": weeks[-1] + timedelta(weeks=1)})
        cursor.execute(
            "UPDATE leaderboard_weeklyranking w SET people = c.people "
            "FROM (SELECT week, count(*) AS people FROM leaderboard_weeklyrank WHERE week = ANY(%s) GROUP BY week) c "
            "WHERE w.week = c.week",
            [weeks],
        )


# Deletes in SQL: the ORM's cascade would first load every entry of a snapshot into Python.
def _snapshots_delete(ids: list[int]) -> None:
    if ids:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM leaderboard_boardentry WHERE snapshot_id = ANY(%s)", [ids])
            cursor.execute("DELETE FROM leaderboard_teamboardentry WHERE snapshot_id = ANY(%s)", [ids])
            cursor.execute("DELETE FROM leaderboard_boardsnapshot WHERE id = ANY(%s)", [ids])


def _weeks_delete(weeks: list[date]) -> None:
    if weeks:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM leaderboard_weeklyrank WHERE week = ANY(%s)", [weeks])
            cursor.execute("DELETE FROM leaderboard_weeklyranking WHERE week = ANY(%s)", [weeks])
