"""Re-pricing: an explicit, logged action that moves the rollup by the difference."""

from __future__ import annotations

import logging
from datetime import date

import pandas as pd
from django.db import connection, transaction

from usage.services.ingest import copy_frame, price_table
from usage.services.rollup import rollup_apply_delta

logger = logging.getLogger(__name__)

SELECT_SQL = """
CREATE TEMP TABLE repriced ON COMMIT DROP AS
SELECT dataset, bucket_start, dedup_key, day, engineer_id, vendor, product, model, model_canonical, long_context, input_uncached_tokens,
       cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, requests,
       cost_usd, cost_source, counted
FROM usage_usagerecord
WHERE vendor = %(vendor)s AND (model = %(model)s OR model_canonical = %(model)s)
  AND day >= %(start)s AND day < %(end)s AND cost_source <> 'vendor'
ORDER BY dataset, bucket_start, dedup_key
FOR UPDATE
"""

NEW_COST_SQL = """
CREATE TEMP TABLE repriced_new ON COMMIT DROP AS
SELECT r.dataset, r.bucket_start, r.dedup_key, COALESCE(p.model_canonical, r.model_canonical) AS model_canonical,
       CASE WHEN p.p_in IS NULL THEN 0 ELSE (r.input_uncached_tokens * p.p_in + r.cache_read_tokens * p.p_cr
            + r.cache_write_5m_tokens * p.p_cw5 + r.cache_write_1h_tokens * p.p_cw1h
            + r.output_tokens * p.p_out) / 1000000 END AS cost_usd,
       CASE WHEN p.p_in IS NULL THEN 'unpriced' ELSE 'computed' END AS cost_source
FROM repriced r
LEFT JOIN stage_price p ON p.vendor = r.vendor AND p.model = r.model AND p.day = r.day AND p.long_context = r.long_context
"""

DELTA_SQL = """
CREATE TEMP TABLE rollup_delta ON COMMIT DROP AS
SELECT -1 AS sign, day, engineer_id, vendor, product, model_canonical, input_uncached_tokens, cache_read_tokens,
       cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, requests, cost_usd, cost_source
FROM repriced
WHERE counted  -- rows another source is primary for are not in the rollup (rule 1)
UNION ALL
SELECT 1, r.day, r.engineer_id, r.vendor, r.product, n.model_canonical, r.input_uncached_tokens, r.cache_read_tokens,
       r.cache_write_5m_tokens, r.cache_write_1h_tokens, r.output_tokens, r.requests, n.cost_usd, n.cost_source
FROM repriced r JOIN repriced_new n USING (dataset, bucket_start, dedup_key)
WHERE r.counted
"""


def usage_reprice(*, vendor: str, model: str, start: date, end: date) -> int:
    """Recompute the cost of computed and unpriced usage of one model over [start, end) with
    the prices in force now (list or override), moving the rollup by the difference.
    Vendor-reported costs are left alone. Returns the number of rows re-priced; logged."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(SELECT_SQL, {"vendor": vendor, "model": model, "start": start, "end": end})
        cursor.execute("SELECT DISTINCT vendor, model, day, long_context FROM repriced")
        keys = pd.DataFrame(cursor.fetchall(), columns=["vendor", "model", "day", "long_context"])
        count = len(keys) and _reprice(cursor, keys)
        cursor.execute("DROP TABLE repriced")
    logger.info("re-priced %s rows of %s/%s in [%s, %s)", count, vendor, model, start, end)
    return count


def _reprice(cursor, keys: pd.DataFrame) -> int:
    prices = price_table(keys)
    cursor.execute(
        "CREATE TEMP TABLE stage_price (vendor text, model text, day date, long_context boolean, model_canonical text,"
        " p_in numeric, p_cr numeric, p_cw5 numeric, p_cw1h numeric, p_out numeric) ON COMMIT DROP"
    )
    copy_frame(cursor, "stage_price", prices, list(prices.columns))
    cursor.execute(NEW_COST_SQL)
    cursor.execute(DELTA_SQL)
    cursor.execute(
        "UPDATE usage_usagerecord u SET cost_usd = n.cost_usd, cost_source = n.cost_source,"
        " model_canonical = n.model_canonical FROM repriced_new n"
        " WHERE (u.dataset, u.bucket_start, u.dedup_key) = (n.dataset, n.bucket_start, n.dedup_key)"
    )
    count = cursor.rowcount
    rollup_apply_delta(cursor)
    cursor.execute("DROP TABLE stage_price, repriced_new, rollup_delta")
    return count
