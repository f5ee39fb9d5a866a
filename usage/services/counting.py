"""Rule 1, a dollar is counted once: which of two overlapping attribution datasets counts.

Every row is kept; `UsageRecord.counted` says whether DailyUsage sums it. Ingest sets it from
SourcePriority as rows arrive. A priority is active once its primary dataset has rows: until
then the other dataset counts (a site with only gateway or local logs still sees its spend).
Activating or changing a priority flips the stored rows of both datasets and rebuilds the
rollup over the days they span.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from leaderboard.access import audit
from usage.models import SourcePriority, UsageRecord

from .rollup import daily_usage_rebuild

# The same expression ingest uses (RESOLVE_SQL), evaluated on stored rows.
FLIP_SQL = """
WITH flipped AS (
    UPDATE usage_usagerecord u SET counted = NOT u.counted
    WHERE u.dataset IN (%(first)s, %(second)s) AND (%(account)s = '' OR u.account = %(account)s)
      AND u.counted = EXISTS (SELECT 1 FROM usage_sourcepriority sp
                              WHERE u.dataset IN (sp.first_dataset, sp.second_dataset)
                                AND sp.primary_dataset <> u.dataset AND sp.account IN ('', u.account)
                                AND sp.active)
    RETURNING u.day
)
SELECT count(*), min(day), max(day) FROM flipped
"""


def source_priority_set(*, priority_id: int, primary_dataset: str, user=None) -> int:
    """Make `primary_dataset` the one of its pair that counts toward spend, flip the stored rows
    of both datasets to match, and rebuild DailyUsage over the days they span. Returns the
    number of rows flipped; setting the current primary again flips nothing."""
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
    params = {"first": priority.first_dataset, "second": priority.second_dataset, "account": priority.account}
    with connection.cursor() as cursor:
        cursor.execute(FLIP_SQL, params)
        flipped, first_day, last_day = cursor.fetchone()
    if flipped:
        daily_usage_rebuild(start=first_day, end=last_day + timedelta(days=1))
    return flipped
