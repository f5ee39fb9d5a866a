"""Rule 1, a dollar is counted once: which of two overlapping attribution datasets counts.

Every row is kept; `UsageRecord.counted` says whether DailyUsage sums it. Ingest sets it from
SourcePriority as rows arrive. A priority is active once its primary dataset has rows: until
then the other dataset counts (a site with only gateway or local logs still sees its spend).
Activating or changing a priority flips the stored rows of both datasets that disagree with it
and moves the rollup by exactly those rows.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from leaderboard.access import audit
from usage.models import SourcePriority, UsageRecord

from .rollup import rollup_apply_delta

# Ingest makes writers of one dataset and day take turns on these advisory locks; a flip takes
# the same ones for both datasets, in key order as ingest does, so it never reads a row an
# upsert is changing, nor an upsert a row the flip is changing.
LOCK_SQL = """
SELECT pg_advisory_xact_lock(k) FROM (
    SELECT DISTINCT hashtextextended(dataset || ':' || day::text, 0) AS k
    FROM usage_usagerecord WHERE dataset IN (%(first)s, %(second)s) ORDER BY 1
) locks
"""

_DELTA_COLUMNS = (
    "day, engineer_id, vendor, product, model_canonical, input_uncached_tokens, cache_read_tokens,"
    " cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, requests, cost_usd, cost_source"
)

# Rows whose flag disagrees with the priorities (the expression ingest's RESOLVE_SQL uses) flip;
# a row that now counts enters the rollup, one that no longer counts leaves it.
FLIP_SQL = f"""
WITH flipped AS (
    UPDATE usage_usagerecord u SET counted = NOT u.counted
    WHERE u.dataset IN (%(first)s, %(second)s) AND (%(account)s = '' OR u.account = %(account)s)
      AND u.counted = EXISTS (SELECT 1 FROM usage_sourcepriority sp
                              WHERE u.dataset IN (sp.first_dataset, sp.second_dataset)
                                AND sp.primary_dataset <> u.dataset AND sp.account IN ('', u.account)
                                AND sp.active)
    RETURNING u.counted, {", ".join(f"u.{c.strip()}" for c in _DELTA_COLUMNS.split(","))}
)
INSERT INTO rollup_delta SELECT CASE WHEN counted THEN 1 ELSE -1 END, {_DELTA_COLUMNS} FROM flipped
"""


def source_priority_set(*, priority_id: int, primary_dataset: str, user=None) -> int:
    """Make `primary_dataset` the one of its pair that counts toward spend, flip the stored rows
    of both datasets to match and move DailyUsage by them. Returns the number of rows flipped;
    setting the current primary again flips nothing."""
    with transaction.atomic():
        priority = SourcePriority.objects.select_for_update().get(pk=priority_id)
        if primary_dataset not in (priority.first_dataset, priority.second_dataset):
            raise ValidationError(f"{primary_dataset} is not one of the two datasets of {priority.name}.")
        priority.primary_dataset = primary_dataset
        # The natural-key index starts with dataset: this is one index probe.
        priority.active = UsageRecord.objects.filter(dataset=primary_dataset).exists()
        priority.save(update_fields=["primary_dataset", "active", "updated_at"])
        flipped = _flip(priority)
        audit(user, "source_priority_set", priority.name, primary=primary_dataset, rows_flipped=flipped)
    return flipped


def source_priorities_activate(*, dataset: str) -> int:
    """After rows of `dataset` were stored (ingest's transaction): the priorities it is primary
    for and that were waiting for it take effect now. A no-op (one query) once they have."""
    flipped = 0
    waiting = SourcePriority.objects.select_for_update().filter(primary_dataset=dataset, active=False).order_by("pk")
    for priority in waiting:
        priority.active = True
        priority.save(update_fields=["active", "updated_at"])
        flipped += _flip(priority)
    return flipped


def _flip(priority: SourcePriority) -> int:
    """Flip the rows of the pair that disagree with the priorities and move the rollup by them."""
    params = {"first": priority.first_dataset, "second": priority.second_dataset, "account": priority.account}
    with connection.cursor() as cursor:
        cursor.execute(LOCK_SQL, params)
        cursor.execute(
            f"CREATE TEMP TABLE rollup_delta ON COMMIT DROP AS SELECT 1 AS sign, {_DELTA_COLUMNS}"
            " FROM usage_usagerecord LIMIT 0"
        )
        cursor.execute(FLIP_SQL, params)
        flipped = cursor.rowcount
        if flipped:
            rollup_apply_delta(cursor)
        cursor.execute("DROP TABLE rollup_delta")
    return flipped
