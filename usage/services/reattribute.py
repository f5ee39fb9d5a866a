"""Re-attribution: when an identity is mapped after its usage arrived, history follows it."""

from __future__ import annotations

from django.db import connection, transaction

from .counting import counting_recheck, day_window, days_lock, partner_datasets
from .resolution import ENGINEER_OF, identity_joins
from .rollup import rollup_apply_delta

# Rows whose engineer differs from what the identity map (or an email/login match) says now.
CHANGED_SQL = f"""
CREATE TEMP TABLE changed ON COMMIT DROP AS
SELECT u.dataset, u.bucket_start, u.dedup_key, u.day, u.engineer_id AS old_engineer_id, {ENGINEER_OF} AS new_engineer_id,
       u.vendor, u.product, u.model_canonical, u.input_uncached_tokens, u.cache_read_tokens,
       u.cache_write_5m_tokens, u.cache_write_1h_tokens, u.output_tokens, u.requests, u.cost_usd, u.cost_source,
       u.counted
FROM usage_usagerecord u
JOIN (SELECT * FROM unnest(%(vendors)s::text[], %(kinds)s::text[], %(values)s::text[]) AS t(vendor, kind, value)) ids
  ON u.vendor = ids.vendor AND u.identity_kind = ids.kind AND u.identity_value = ids.value
{identity_joins("u")}
WHERE u.engineer_id IS DISTINCT FROM {ENGINEER_OF} {{unmapped}}
ORDER BY u.dataset, u.bucket_start, u.dedup_key
FOR UPDATE OF u
"""

_ROWS_OF_IDENTITIES = """
FROM usage_usagerecord u
JOIN (SELECT * FROM unnest(%(vendors)s::text[], %(kinds)s::text[], %(values)s::text[]) AS t(vendor, kind, value)) ids
  ON u.vendor = ids.vendor AND u.identity_kind = ids.kind AND u.identity_value = ids.value
WHERE true {unmapped}
"""

# The datasets and days the identities' rows are in: the locks below cover them.
SPAN_SQL = "SELECT array_agg(DISTINCT u.dataset), min(u.day), max(u.day)" + _ROWS_OF_IDENTITIES

# Ingest makes writers of one dataset and day take turns on these advisory locks (in key order,
# so no deadlock); re-attribution takes the same ones for the days it touches, so it never moves a
# row an import is restating, nor an import reads a row this is moving.
LOCK_SQL = (
    "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(u.dataset || ':' || u.day::text, 0)"
    " AS k" + _ROWS_OF_IDENTITIES + " ORDER BY 1) locks"
)

DELTA_SQL = """
CREATE TEMP TABLE rollup_delta ON COMMIT DROP AS
SELECT -1 AS sign, day, old_engineer_id AS engineer_id, vendor, product, model_canonical, input_uncached_tokens,
       cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, requests, cost_usd, cost_source
FROM changed
WHERE counted  -- rows another source is primary for never reached the rollup
UNION ALL
SELECT 1, day, new_engineer_id, vendor, product, model_canonical, input_uncached_tokens,
       cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, requests, cost_usd, cost_source
FROM changed
WHERE counted
"""


def usage_reattribute(*, identities: list[tuple[str, str, str]], unmapped_only: bool = False) -> int:
    """Point the usage of these (vendor, kind, external_id) identities at whoever they map to
    now, moving the rollup with it. Returns the number of usage rows that changed hands."""
    if not identities:
        return 0
    vendors, kinds, values = (list(col) for col in zip(*identities, strict=True))
    with transaction.atomic(), connection.cursor() as cursor:
        # Only rows attributed to nobody: the unmapped-identity partial index finds them, where
        # the whole ledger would be read for identities that may also be someone's already.
        unmapped = "AND u.engineer_id IS NULL" if unmapped_only else ""
        ids = {"vendors": vendors, "kinds": kinds, "values": values}
        cursor.execute(SPAN_SQL.format(unmapped=unmapped), ids)
        datasets, first_day, last_day = cursor.fetchone()
        if not datasets:
            return 0
        partners = {partner for dataset in datasets for partner in partner_datasets(dataset)}
        if partners:
            # The rule-1 re-check below flips the pairs' rows in these days: their locks are taken
            # now, with the rows' own, in one sorted statement (a late lock can deadlock).
            days_lock(cursor, datasets=[*datasets, *partners], first_day=first_day, last_day=last_day)
        else:
            cursor.execute(LOCK_SQL.format(unmapped=unmapped), ids)
        cursor.execute(CHANGED_SQL.format(unmapped=unmapped), ids)
        cursor.execute("SELECT count(*) FROM changed")
        (count,) = cursor.fetchone()
        if count:
            cursor.execute(
                "UPDATE usage_usagerecord u SET engineer_id = c.new_engineer_id FROM changed c"
                " WHERE (u.dataset, u.bucket_start, u.dedup_key) = (c.dataset, c.bucket_start, c.dedup_key)"
            )
            cursor.execute(DELTA_SQL)
            rollup_apply_delta(cursor)
            cursor.execute("DROP TABLE rollup_delta")
            cursor.execute("SELECT array_agg(DISTINCT dataset), min(day), max(day) FROM changed")
            datasets, first_day, last_day = cursor.fetchone()
        cursor.execute("DROP TABLE changed")
        if count:
            # Rows that changed hands may now be, or stop being, the same person's spend as
            # another source's on that day (rule 1): the pairs recheck those days.
            start, end = day_window(first_day, last_day)
            counting_recheck(datasets=datasets, start=start, end=end)
    return count
