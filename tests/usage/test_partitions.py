# ruff: noqa: F811 - the fixtures are imported from test_ingest
import json
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Sum

from tests.usage.test_ingest import ada, ingest, result, totals, usage_report  # noqa: F401 - fixtures
from usage.models import DailyUsage, ImportBatch, RawRetention, RejectedRow, UsageRecord
from usage.services.partitions import usage_partitions, usage_partitions_ensure, usage_raw_prune
from usage.services.rollup import daily_usage_rebuild

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 24)


def partition_of(record: UsageRecord) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM usage_usagerecord"
            " WHERE dataset = %s AND bucket_start = %s AND dedup_key = %s",
            [record.dataset, record.bucket_start, record.dedup_key],
        )
        return cursor.fetchone()[0]


def report() -> str:
    out = StringIO()
    call_command("usage_report", "--month", "2026-03", "--by", "engineer", "--format", "json", stdout=out)
    return json.loads(out.getvalue())


def test_the_raw_table_is_partitioned_by_month_with_brin_on_time():
    with connection.cursor() as cursor:
        cursor.execute("SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'usage_usagerecord'::regclass")
        assert cursor.fetchone() == ("r",)
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'usage_usagerecord'")
        indexes = [row[0] for row in cursor.fetchall()]
    assert any("USING brin (bucket_start)" in ddl for ddl in indexes)
    # One full btree, the natural key deduplication needs (the primary key), and small partial ones.
    full_btrees = [ddl for ddl in indexes if "btree" in ddl and "WHERE" not in ddl]
    assert len(full_btrees) == 1 and "(dataset, bucket_start, dedup_key)" in full_btrees[0]


def test_rows_of_a_month_without_a_partition_wait_in_the_default_and_are_moved_into_their_own(ingest, ada):
    batch = ingest(usage_report(("2024-03-02", [result()])))  # long before any partition
    record = UsageRecord.objects.get(batch=batch)
    assert partition_of(record) == "usage_usagerecord_default"

    made = usage_partitions_ensure(today=TODAY)

    assert "usage_usagerecord_2024_03" in made and partition_of(record) == "usage_usagerecord_2024_03"
    assert {date(2026, 11, 1), date(2027, 2, 1)} <= set(usage_partitions())
    assert usage_partitions_ensure(today=TODAY) == []  # run it twice: nothing more to do
    assert totals()["rows"] == 1


def test_pruning_drops_old_months_and_every_total_stays(ingest, ada):
    ingest(usage_report(("2026-03-02", [result(uncached=1_000_000)]), ("2026-03-03", [result(uncached=5)])))
    ingest(usage_report(("2026-10-02", [result(uncached=7)])), filename="october.json")
    usage_partitions_ensure(today=TODAY)
    before_report, before_rollup = report(), totals()["tokens"]

    pruned = usage_raw_prune(older_than_months=6, today=TODAY)

    assert pruned.cutoff == date(2026, 5, 1) and pruned.rows_dropped == 2
    assert "usage_usagerecord_2026_03" in pruned.partitions_dropped
    assert date(2026, 3, 1) not in usage_partitions()
    assert UsageRecord.objects.count() == 1  # October's row is kept
    assert report() == before_report and totals()["tokens"] == before_rollup
    assert RawRetention.objects.get().pruned_before == date(2026, 5, 1)


def test_a_rebuild_after_pruning_keeps_the_pruned_days_totals(ingest, ada):
    ingest(usage_report(("2026-03-02", [result()])))
    usage_partitions_ensure(today=TODAY)
    usage_raw_prune(older_than_months=6, today=TODAY)
    daily_usage_rebuild(start=date(2026, 1, 1), end=date(2026, 12, 1))
    assert DailyUsage.objects.aggregate(t=Sum("tokens"))["t"] == 1_000_000


def test_an_export_restating_a_pruned_day_is_refused_by_row_and_changes_nothing(ingest, ada):
    ingest(usage_report(("2026-03-02", [result()])))
    usage_partitions_ensure(today=TODAY)
    usage_raw_prune(older_than_months=6, today=TODAY)

    batch = ingest(usage_report(("2026-03-02", [result(uncached=2_000_000)]), ("2026-10-02", [result(uncached=9)])))

    assert batch.status == ImportBatch.Status.DONE and (batch.rows_accepted, batch.rows_rejected) == (1, 1)
    rejected = RejectedRow.objects.get(batch=batch)
    assert "retention horizon" in rejected.reason and "2026-05-01" in rejected.reason
    assert DailyUsage.objects.filter(day=date(2026, 3, 2)).get().tokens == 1_000_000
    assert totals()["tokens"] == 1_000_009


def test_prune_raw_says_what_it_drops_and_a_dry_run_drops_nothing(ingest, ada):
    ingest(usage_report(("2025-01-02", [result()])))
    out = StringIO()
    call_command("prune_raw", "--older-than-months", "12", "--dry-run", stdout=out)
    assert "would drop 1 rows" in out.getvalue() and UsageRecord.objects.count() == 1
    out = StringIO()
    call_command("prune_raw", "--older-than-months", "12", stdout=out)
    assert "dropped 1 rows (usage_usagerecord_2025_01)" in out.getvalue() and "unchanged" in out.getvalue()
    assert UsageRecord.objects.count() == 0 and totals()["tokens"] == 1_000_000
    with pytest.raises(CommandError, match="at least"):
        call_command("prune_raw", "--older-than-months", "0")


def test_the_cost_of_pruned_days_stays_in_the_rollup(ingest, ada):
    ingest(usage_report(("2026-03-02", [result(output=1000)])))
    cost = DailyUsage.objects.aggregate(c=Sum("cost_usd"))["c"]
    usage_partitions_ensure(today=TODAY)
    usage_raw_prune(older_than_months=6, today=TODAY)
    assert DailyUsage.objects.aggregate(c=Sum("cost_usd"))["c"] == cost > Decimal(0)
