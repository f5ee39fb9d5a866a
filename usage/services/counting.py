"""Rule 1, a dollar is counted once: which of two overlapping attribution datasets counts.

Every row is kept; `UsageRecord.counted` says whether DailyUsage sums it. A row of the secondary
dataset of an active SourcePriority does not count when the primary dataset holds a row for the
same person on the same day: the engineer, or for unmapped rows the identity (COUNTED_RULE). A
person the primary does not report on that day (another team's tool, a user the admin API does
not cover) keeps their secondary rows: only the same dollars are left out, not everyone's.
A priority is active once its primary dataset has rows. Ingest sets the flag as rows arrive and
re-checks the pair over a batch's days; activating or changing a priority, or moving rows to
another person (re-attribution), flips the stored rows that disagree with the rule and moves the
rollup by exactly those rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max, Min, Q

from leaderboard.access import audit
from usage.models import SourcePriority, UsageRecord

from .rollup import rollup_apply_delta

EVER = ("-infinity", "infinity")  # a flip over every row of a pair


def who(alias: str, engineer: str | None = None) -> str:
    """Whose spend a row is, for rule 1: its engineer, or for an unmapped row its identity."""
    engineer = engineer or f"{alias}.engineer_id"
    return f"COALESCE('e:' || {engineer}, 'i:' || {alias}.identity_kind || ':' || {alias}.identity_value)"


# The people and days each primary dataset covers in a window of bucket starts (one range scan
# of the natural key per dataset); a row's rule is then a hash lookup, not a probe of the ledger.
COVER_SQL = f"""
CREATE TEMP TABLE primary_cover ON COMMIT DROP AS
SELECT DISTINCT p.dataset, {who("p")} AS who, p.day
FROM usage_usagerecord p
WHERE p.dataset = ANY(%(primaries)s) AND p.bucket_start >= %(from)s::timestamptz
  AND p.bucket_start < %(until)s::timestamptz;
CREATE INDEX ON primary_cover (who, day);
ANALYZE primary_cover;
"""


def counted_rule(alias: str, *, engineer: str | None = None, dataset: str | None = None) -> str:
    """SQL: whether row `alias` counts (primary_cover must exist). `engineer` and `dataset` are
    SQL for those of the row when `alias` lacks the columns (a staged row)."""
    dataset = dataset or f"{alias}.dataset"
    return f"""NOT EXISTS (
    SELECT 1 FROM usage_sourcepriority sp JOIN primary_cover c ON c.dataset = sp.primary_dataset
    WHERE sp.active AND {dataset} IN (sp.first_dataset, sp.second_dataset)
      AND sp.primary_dataset <> {dataset} AND sp.account IN ('', {alias}.account)
      AND c.who = {who(alias, engineer)} AND c.day = {alias}.day)"""


# Ingest makes writers of one dataset and day take turns on these advisory locks; a flip takes
# the same ones for both datasets, in key order as ingest does, so it never reads a row an
# upsert is changing, nor an upsert a row the flip is changing.
LOCK_SQL = """
SELECT pg_advisory_xact_lock(k) FROM (
    SELECT DISTINCT hashtextextended(dataset || ':' || day::text, 0) AS k
    FROM usage_usagerecord
    WHERE dataset IN (%(first)s, %(second)s)
      AND bucket_start >= %(from)s::timestamptz AND bucket_start < %(until)s::timestamptz
    ORDER BY 1
) locks
"""

_DELTA_COLUMNS = (
    "day, engineer_id, vendor, product, model_canonical, input_uncached_tokens, cache_read_tokens,"
    " cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, requests, cost_usd, cost_source"
)

# Rows whose flag disagrees with the rule flip; a row that now counts enters the rollup, one that
# no longer counts leaves it.
FLIP_SQL = f"""
WITH flipped AS (
    UPDATE usage_usagerecord u SET counted = NOT u.counted
    WHERE u.dataset IN (%(first)s, %(second)s) AND (%(account)s = '' OR u.account = %(account)s)
      AND u.bucket_start >= %(from)s::timestamptz AND u.bucket_start < %(until)s::timestamptz
      AND u.counted <> {counted_rule("u")}
    RETURNING u.counted, {", ".join(f"u.{c.strip()}" for c in _DELTA_COLUMNS.split(","))}
)
INSERT INTO rollup_delta SELECT CASE WHEN counted THEN 1 ELSE -1 END, {_DELTA_COLUMNS} FROM flipped
"""


def primaries_over(datasets: Iterable[str]) -> list[str]:
    """The primary datasets of the active priorities these datasets are secondary in."""
    datasets = list(datasets)
    rows = SourcePriority.objects.filter(active=True).filter(
        Q(first_dataset__in=datasets) | Q(second_dataset__in=datasets)
    )
    return sorted({p.primary_dataset for p in rows if p.secondary_dataset in datasets})


def priorities_of(datasets: Iterable[str]) -> list[SourcePriority]:
    datasets = list(datasets)
    return list(
        SourcePriority.objects.filter(Q(first_dataset__in=datasets) | Q(second_dataset__in=datasets)).order_by("pk")
    )


def partner_datasets(dataset: str) -> list[str]:
    """Datasets a priority pairs with this one: their days are locked with its own."""
    pairs = priorities_of([dataset])
    return sorted(({p.first_dataset for p in pairs} | {p.second_dataset for p in pairs}) - {dataset})


def days_lock(cursor, *, datasets: Iterable[str], first_day: date, last_day: date) -> None:
    """Take the ingest day locks of these datasets for every day from first to last, in one
    sorted statement: a writer that will flip a pair's rows takes the partner's days up front,
    never one lock after another (which can deadlock against an import of the partner)."""
    cursor.execute(
        "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(d || ':' || day::date::text, 0)"
        " AS k FROM unnest(%s::text[]) d, generate_series(%s::date, %s::date, interval '1 day') day"
        " ORDER BY 1) locks",
        [sorted(set(datasets)), first_day, last_day],
    )


def activation_span(dataset: str) -> tuple[date, date] | None:
    """The first and last day of the rows of the pairs `dataset` will activate (a priority it is
    primary for that waits for its first rows), or None when it activates none. Its batch takes
    their day locks up front: the activation re-checks every row of the pair."""
    waiting = SourcePriority.objects.filter(primary_dataset=dataset, active=False)
    datasets = sorted({d for p in waiting for d in (p.first_dataset, p.second_dataset)})
    if not datasets:
        return None
    spans = [
        UsageRecord.objects.filter(dataset=d).aggregate(first=Min("bucket_start"), last=Max("bucket_start"))
        for d in datasets  # one natural-key index descent each way per dataset
    ]
    days = [moment.astimezone(UTC).date() for span in spans for moment in span.values() if moment is not None]
    return (min(days), max(days)) if days else None


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


def day_window(first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """The bucket starts of these UTC days, both included, as a half-open window."""
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
    return start, start + timedelta(days=(last_day - first_day).days + 1)


def counting_recheck(
    *, datasets: Iterable[str], start: datetime | str, end: datetime | str, primary_only: bool = False
) -> int:
    """Flip the rows of every active pair these datasets belong to (`primary_only`: as its
    primary), in a window of bucket starts (a batch's days, rows that changed hands), that
    disagree with the rule. Returns the count."""
    datasets = list(datasets)
    pairs = [p for p in priorities_of(datasets) if p.active and (not primary_only or p.primary_dataset in datasets)]
    return sum(_flip(p, start=start, end=end) for p in pairs)


def _flip(priority: SourcePriority, *, start: datetime | str = EVER[0], end: datetime | str = EVER[1]) -> int:
    """Flip the rows of the pair that disagree with the rule and move the rollup by them."""
    params = {
        "first": priority.first_dataset,
        "second": priority.second_dataset,
        "account": priority.account,
        "from": start,
        "until": end,
        "primaries": primaries_over([priority.first_dataset, priority.second_dataset]),
    }
    with connection.cursor() as cursor:
        cursor.execute(LOCK_SQL, params)
        cursor.execute(COVER_SQL, params)
        cursor.execute(
            f"CREATE TEMP TABLE rollup_delta ON COMMIT DROP AS SELECT 1 AS sign, {_DELTA_COLUMNS}"
            " FROM usage_usagerecord LIMIT 0"
        )
        cursor.execute(FLIP_SQL, params)
        flipped = cursor.rowcount
        if flipped:
            rollup_apply_delta(cursor)
        cursor.execute("DROP TABLE rollup_delta, primary_cover")
    return flipped
