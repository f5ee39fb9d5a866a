"""Monthly partitions of the raw usage table (usage_usagerecord, migration 0006) and retention.

A partition per UTC month of bucket_start. Beat creates them ahead; rows that arrive for a month
without one (a backfill of an old year) land in the default partition and are moved into their
own month's partition on the next run. prune_raw drops whole months past retention: the rollup
(DailyUsage) keeps their totals, and RawRetention remembers the horizon so that a file restating
a pruned day is refused rather than counted twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db import connection, transaction
from django.utils import timezone

from usage.models import RawRetention

PARENT = "usage_usagerecord"
DEFAULT = "usage_usagerecord_default"
NAME = re.compile(r"^usage_usagerecord_(\d{4})_(\d{2})$")
MONTHS_AHEAD = 3


@dataclass(frozen=True)
class PruneResult:
    cutoff: date
    partitions_dropped: list[str]
    rows_dropped: int


def month_start(day: date, offset: int = 0) -> date:
    index = day.year * 12 + day.month - 1 + offset
    return date(index // 12, index % 12 + 1, 1)


def usage_partitions() -> dict[date, str]:
    """The monthly partitions that exist: their first day -> table name."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [PARENT],
        )
        names = [row[0] for row in cursor.fetchall()]
    found = {}
    for name in names:
        match = NAME.match(name)
        if match:
            found[date(int(match[1]), int(match[2]), 1)] = name
    return found


def usage_partitions_ensure(*, today: date | None = None, months_ahead: int = MONTHS_AHEAD) -> list[str]:
    """Create the partitions of this month and the next `months_ahead`, and of every month that has
    rows waiting in the default partition (moving them in). Idempotent; returns the tables made."""
    today = today or timezone.now().astimezone(UTC).date()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT DISTINCT date_trunc('month', bucket_start AT TIME ZONE 'UTC')::date FROM {DEFAULT}")
            waiting = {row[0] for row in cursor.fetchall()}
        wanted = {month_start(today, n) for n in range(months_ahead + 1)} | waiting
        existing = usage_partitions()
        made = []
        for month in sorted(wanted - set(existing)):
            made.append(_partition_create(month))
    return made


def _partition_create(month: date) -> str:
    """A month's partition, made from the rows of that month waiting in the default partition:
    creating it directly would fail while the default still holds them."""
    name = f"{PARENT}_{month:%Y_%m}"
    low, high = _bound(month), _bound(month_start(month, 1))
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE bucket_start >= %s AND bucket_start < %s RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved",
            [low, high],
        )
        cursor.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [low, high])
    return name


def usage_raw_prune(*, older_than_months: int, today: date | None = None, dry_run: bool = False) -> PruneResult:
    """Drop raw usage rows of months that ended more than `older_than_months` months ago (whole
    partitions, and any such rows in the default partition). Rollups, reports and caps read
    DailyUsage and keep every total. Records the horizon so that a re-import of a pruned day is
    refused (its old rows are gone: their sums would be counted twice)."""
    if older_than_months < 1:
        raise ValueError("keep at least the current month and the one before: --older-than-months must be >= 1")
    today = today or timezone.now().astimezone(UTC).date()
    cutoff = month_start(today, -older_than_months)
    with transaction.atomic():
        doomed = {month: name for month, name in usage_partitions().items() if month < cutoff}
        with connection.cursor() as cursor:
            rows = 0
            for name in doomed.values():
                cursor.execute(f"SELECT count(*) FROM {name}")
                rows += cursor.fetchone()[0]
            cursor.execute(f"SELECT count(*) FROM {DEFAULT} WHERE bucket_start < %s", [_bound(cutoff)])
            rows += cursor.fetchone()[0]
            if dry_run:
                transaction.set_rollback(True)
                return PruneResult(cutoff, sorted(doomed.values()), rows)
            for name in doomed.values():
                cursor.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {name}")
                cursor.execute(f"DROP TABLE {name}")
            cursor.execute(f"DELETE FROM {DEFAULT} WHERE bucket_start < %s", [_bound(cutoff)])
        retention, _ = RawRetention.objects.select_for_update().get_or_create(pk=1)
        if retention.pruned_before is None or retention.pruned_before < cutoff:
            retention.pruned_before = cutoff
            retention.save()
    return PruneResult(cutoff, sorted(doomed.values()), rows)


def raw_pruned_before() -> date | None:
    """The first day whose raw rows are still kept, or None when nothing was ever pruned."""
    retention = RawRetention.objects.filter(pk=1).first()
    return retention.pruned_before if retention else None


def _bound(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
