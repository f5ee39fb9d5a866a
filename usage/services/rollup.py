"""The DailyUsage rollup: moved by exact deltas at ingest, rebuilt from the ledger on demand."""

from __future__ import annotations

from datetime import date

from django.db import connection, transaction

# Sums a temp table `rollup_delta` (sign, day, engineer_id, vendor, product, model_canonical,
# token columns, requests, cost_usd, cost_source) by rollup key and adds it to DailyUsage.
# The team is the engineer's team on that day (TeamMembership, valid_to exclusive).
APPLY_DELTA_SQL = """
INSERT INTO usage_dailyusage (
    day, engineer_id, team_id, vendor, product, model, input_uncached_tokens, cache_read_tokens,
    cache_write_tokens, output_tokens, tokens, requests, cost_usd, unpriced_tokens)
SELECT d.day, d.engineer_id, m.team_id, d.vendor, d.product, d.model_canonical,
       sum(d.sign * d.input_uncached_tokens), sum(d.sign * d.cache_read_tokens),
       sum(d.sign * (d.cache_write_5m_tokens + d.cache_write_1h_tokens)), sum(d.sign * d.output_tokens),
       sum(d.sign * (d.input_uncached_tokens + d.cache_read_tokens + d.cache_write_5m_tokens
                     + d.cache_write_1h_tokens + d.output_tokens)),
       sum(d.sign * d.requests), sum(d.sign * d.cost_usd),
       COALESCE(sum(d.sign * (d.input_uncached_tokens + d.cache_read_tokens + d.cache_write_5m_tokens
                     + d.cache_write_1h_tokens + d.output_tokens)) FILTER (WHERE d.cost_source = 'unpriced'), 0)
FROM rollup_delta d
LEFT JOIN usage_teammembership m
       ON m.engineer_id = d.engineer_id AND m.valid_from <= d.day AND (m.valid_to IS NULL OR m.valid_to > d.day)
GROUP BY d.day, d.engineer_id, m.team_id, d.vendor, d.product, d.model_canonical
ORDER BY d.day, d.engineer_id, d.vendor, d.product, d.model_canonical
ON CONFLICT (day, engineer_id, vendor, product, model) DO UPDATE SET
    team_id = EXCLUDED.team_id,
    input_uncached_tokens = usage_dailyusage.input_uncached_tokens + EXCLUDED.input_uncached_tokens,
    cache_read_tokens = usage_dailyusage.cache_read_tokens + EXCLUDED.cache_read_tokens,
    cache_write_tokens = usage_dailyusage.cache_write_tokens + EXCLUDED.cache_write_tokens,
    output_tokens = usage_dailyusage.output_tokens + EXCLUDED.output_tokens,
    tokens = usage_dailyusage.tokens + EXCLUDED.tokens,
    requests = usage_dailyusage.requests + EXCLUDED.requests,
    cost_usd = usage_dailyusage.cost_usd + EXCLUDED.cost_usd,
    unpriced_tokens = usage_dailyusage.unpriced_tokens + EXCLUDED.unpriced_tokens
"""

# Rows whose every measure went back to zero (their usage moved to someone else) go away.
DELETE_EMPTY_SQL = """
DELETE FROM usage_dailyusage du
USING (SELECT DISTINCT day, engineer_id, vendor, product, model_canonical FROM rollup_delta) k
WHERE du.day = k.day AND du.engineer_id IS NOT DISTINCT FROM k.engineer_id AND du.vendor = k.vendor
  AND du.product = k.product AND du.model = k.model_canonical
  AND du.tokens = 0 AND du.requests = 0 AND du.cost_usd = 0
"""


def rollup_apply_delta(cursor) -> None:
    """Apply the temp table `rollup_delta` to DailyUsage (caller holds the transaction)."""
    cursor.execute(APPLY_DELTA_SQL)
    cursor.execute(DELETE_EMPTY_SQL)


REBUILD_SQL = """
CREATE TEMP TABLE rollup_delta ON COMMIT DROP AS
SELECT 1 AS sign, day, engineer_id, vendor, product, model_canonical, input_uncached_tokens,
       cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, requests,
       cost_usd, cost_source
FROM usage_usagerecord
WHERE day >= %(start)s AND day < %(end)s
"""


def daily_usage_rebuild(*, start: date, end: date) -> None:
    """Recompute DailyUsage for days in [start, end) from the ledger: after a reorg, or a check."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE usage_dailyusage IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute("DELETE FROM usage_dailyusage WHERE day >= %(start)s AND day < %(end)s", {"start": start, "end": end})
        cursor.execute(REBUILD_SQL, {"start": start, "end": end})
        rollup_apply_delta(cursor)
        cursor.execute("DROP TABLE rollup_delta")
