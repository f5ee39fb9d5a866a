"""The DailyUsage rollup: moved by exact deltas at ingest, rebuilt from the ledger on demand."""

from __future__ import annotations

from datetime import date

from django.db import connection, transaction

from .computed import versions_move_on_commit

# Sums a temp table `rollup_delta` (sign, day, engineer_id, vendor, product, model_canonical,
# token columns, requests, cost_usd, cost_source) by rollup key. The team is the engineer's
# team on that day (TeamMembership, valid_to exclusive).
AGGREGATE_DELTA_SQL = """
CREATE TEMP TABLE rollup_delta_sum ON COMMIT DROP AS
SELECT row_number() OVER () AS delta_id, d.day, d.engineer_id, m.team_id, d.vendor, d.product, d.model,
       d.input_uncached_tokens, d.cache_read_tokens, d.cache_write_tokens, d.output_tokens, d.tokens, d.requests,
       d.cost_usd, d.unpriced_tokens
-- Summed first, then given a team: the membership join meets one row per key, not one per event.
FROM (
    SELECT day, engineer_id, vendor, product, model_canonical AS model,
           sum(sign * input_uncached_tokens) AS input_uncached_tokens,
           sum(sign * cache_read_tokens) AS cache_read_tokens,
           sum(sign * (cache_write_5m_tokens + cache_write_1h_tokens)) AS cache_write_tokens,
           sum(sign * output_tokens) AS output_tokens,
           sum(sign * (input_uncached_tokens + cache_read_tokens + cache_write_5m_tokens
                       + cache_write_1h_tokens + output_tokens)) AS tokens,
           sum(sign * requests) AS requests,
           sum(sign * cost_usd) AS cost_usd,
           COALESCE(sum(sign * (input_uncached_tokens + cache_read_tokens + cache_write_5m_tokens
                                + cache_write_1h_tokens + output_tokens)) FILTER (WHERE cost_source = 'unpriced'), 0)
               AS unpriced_tokens
    FROM rollup_delta
    GROUP BY day, engineer_id, vendor, product, model_canonical
) d
LEFT JOIN usage_teammembership m
       ON m.engineer_id = d.engineer_id AND m.valid_from <= d.day AND (m.valid_to IS NULL OR m.valid_to > d.day);
ANALYZE rollup_delta_sum;
"""

_MEASURES = (
    "input_uncached_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "tokens",
    "requests",
    "cost_usd",
    "unpriced_tokens",
)
# A rollup key matches on plain equalities, one statement for people and one for unmapped
# usage: `engineer_id IS NOT DISTINCT FROM` would keep the planner from the unique index and
# from hash joins (a nested loop over the whole rollup: minutes at 50,000 engineers).
_MATCHES = (
    "du.engineer_id = s.engineer_id",
    "s.engineer_id IS NULL AND du.engineer_id IS NULL",
)


def _key_match(engineer: str) -> str:
    return f"du.day = s.day AND {engineer} AND du.vendor = s.vendor AND du.product = s.product AND du.model = s.model"


# Existing rows first: a negative delta (usage replaced or moved away) only ever meets a row
# that exists, and the non-negative CHECK is evaluated before ON CONFLICT could turn an
# INSERT into an UPDATE. Rows are locked in key order, so concurrent writers cannot deadlock.
UPDATE_EXISTING_SQL = [
    f"""
WITH applied AS (
    UPDATE usage_dailyusage du SET team_id = s.team_id,
        {", ".join(f"{m} = du.{m} + s.{m}" for m in _MEASURES)}
    FROM (SELECT * FROM rollup_delta_sum ORDER BY day, engineer_id, vendor, product, model) s
    WHERE {_key_match(engineer)}
    RETURNING s.delta_id
)
INSERT INTO rollup_applied SELECT delta_id FROM applied
"""
    for engineer in _MATCHES
]

# The rest are new keys; a concurrent writer may have created one since: then add to it.
INSERT_NEW_SQL = f"""
INSERT INTO usage_dailyusage (day, engineer_id, team_id, vendor, product, model, {", ".join(_MEASURES)})
SELECT s.day, s.engineer_id, s.team_id, s.vendor, s.product, s.model, {", ".join(f"s.{m}" for m in _MEASURES)}
FROM rollup_delta_sum s
WHERE NOT EXISTS (SELECT 1 FROM rollup_applied a WHERE a.delta_id = s.delta_id)
ORDER BY s.day, s.engineer_id, s.vendor, s.product, s.model
ON CONFLICT (day, engineer_id, vendor, product, model) DO UPDATE SET team_id = EXCLUDED.team_id,
    {", ".join(f"{m} = usage_dailyusage.{m} + EXCLUDED.{m}" for m in _MEASURES)}
"""

# Rows whose every measure went back to zero (their usage moved to someone else) go away. Only
# a key whose delta took nothing away can't have reached zero: sums are never negative, so the
# search is limited to the (usually few) keys with no positive measure in their delta.
DELETE_EMPTY_SQL = [
    f"""
DELETE FROM usage_dailyusage du
USING (SELECT * FROM rollup_delta_sum WHERE tokens <= 0 AND requests <= 0 AND cost_usd <= 0) s
WHERE {_key_match(engineer)} AND du.tokens = 0 AND du.requests = 0 AND du.cost_usd = 0
"""
    for engineer in _MATCHES
]


def rollup_apply_delta(cursor) -> None:
    """Apply the temp table `rollup_delta` to DailyUsage (caller holds the transaction)."""
    versions_move_on_commit()
    cursor.execute(AGGREGATE_DELTA_SQL)
    cursor.execute("CREATE TEMP TABLE rollup_applied (delta_id bigint) ON COMMIT DROP")
    for sql in UPDATE_EXISTING_SQL:
        cursor.execute(sql)
    cursor.execute(INSERT_NEW_SQL)
    for sql in DELETE_EMPTY_SQL:
        cursor.execute(sql)
    cursor.execute("DROP TABLE rollup_delta_sum, rollup_applied")


REBUILD_SQL = """
CREATE TEMP TABLE rollup_delta ON COMMIT DROP AS
SELECT 1 AS sign, day, engineer_id, vendor, product, model_canonical, input_uncached_tokens,
       cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, requests,
       cost_usd, cost_source
FROM usage_usagerecord
WHERE day >= %(start)s AND day < %(end)s AND counted
"""


def daily_usage_rebuild(*, start: date, end: date) -> None:
    """Recompute DailyUsage for days in [start, end) from the ledger: after a reorg, or a check.
    Days before the raw-retention horizon are left as they are: their raw rows were pruned."""
    from .partitions import raw_pruned_before

    horizon = raw_pruned_before()
    if horizon is not None:
        start = max(start, horizon)
        if start >= end:
            return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE usage_dailyusage IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(
            "DELETE FROM usage_dailyusage WHERE day >= %(start)s AND day < %(end)s", {"start": start, "end": end}
        )
        cursor.execute(REBUILD_SQL, {"start": start, "end": end})
        rollup_apply_delta(cursor)
        cursor.execute("DROP TABLE rollup_delta")
