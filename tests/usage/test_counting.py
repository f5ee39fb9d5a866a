"""Rule 1: where two attribution sources report the same spend, only the primary one counts."""

from decimal import Decimal
from pathlib import Path

import pytest
from django.db.models import Sum

from billing.models import BillingLine
from usage.models import DailyUsage, ImportBatch, SourcePriority, UsageRecord
from usage.selectors import import_batch_not_counted
from usage.services.counting import source_priority_set
from usage.services.ingest import import_batch_create
from usage.services.rollup import daily_usage_rebuild

pytestmark = pytest.mark.django_db
DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "company-small"


@pytest.fixture
def ingest(django_capture_on_commit_callbacks):
    def run(name: str, folder: Path = DATA) -> ImportBatch:
        with django_capture_on_commit_callbacks(execute=True):
            batch = import_batch_create(filename=name, raw=(folder / name).read_bytes())
        batch.refresh_from_db()
        assert batch.status in (ImportBatch.Status.DONE, ImportBatch.Status.DUPLICATE), batch.error
        return batch

    return run


def spend() -> Decimal:
    return DailyUsage.objects.aggregate(total=Sum("cost_usd"))["total"] or Decimal(0)


def ledger(dataset: str) -> Decimal:
    return UsageRecord.objects.filter(dataset=dataset).aggregate(total=Sum("cost_usd"))["total"]


def cursor_priority() -> SourcePriority:
    return SourcePriority.objects.get(first_dataset="cursor_events", second_dataset="cursor_csv")


def test_the_defaults_make_vendor_reports_primary_over_gateway_and_local_logs():
    primaries = dict(SourcePriority.objects.values_list("second_dataset", "primary_dataset"))
    assert primaries["litellm_spend"] == "anthropic_usage"
    assert primaries["claude_code_logs"] == "claude_code_analytics"
    assert primaries["cursor_csv"] == "cursor_events"


def test_a_secondary_source_alone_still_counts(ingest):
    batch = ingest("cursor_usage_export.csv")
    assert spend() == ledger("cursor_csv") == batch.cost_usd > 0
    assert not cursor_priority().active


def test_two_sources_of_one_spend_count_only_the_primary_and_a_flip_moves_the_totals(ingest):
    ingest("cursor_usage_export.csv")
    events = ingest("cursor_usage_events.json")
    assert ledger("cursor_events") != ledger("cursor_csv")
    # The primary arrived: the CSV rows are kept but left out of spend.
    assert spend() == ledger("cursor_events") == events.cost_usd
    assert (
        UsageRecord.objects.filter(dataset="cursor_csv", counted=False).count()
        == UsageRecord.objects.filter(dataset="cursor_csv").count()
    )

    flipped = source_priority_set(priority_id=cursor_priority().pk, primary_dataset="cursor_csv")
    assert flipped == UsageRecord.objects.count()
    assert spend() == ledger("cursor_csv")
    # The flip moved the rollup by exact deltas: a rebuild from the ledger finds nothing to change.
    moved = rollup_rows()
    daily_usage_rebuild(start=UsageRecord.objects.order_by("day").first().day, end=max_day_after())
    assert rollup_rows() == moved
    assert not UsageRecord.objects.filter(dataset="cursor_csv", counted=False).exists()

    # Setting the same primary again, re-importing a file, rebuilding: nothing moves.
    assert source_priority_set(priority_id=cursor_priority().pk, primary_dataset="cursor_csv") == 0
    ingest("cursor_usage_events.json")
    daily_usage_rebuild(start=UsageRecord.objects.order_by("day").first().day, end=max_day_after())
    assert spend() == ledger("cursor_csv")

    source_priority_set(priority_id=cursor_priority().pk, primary_dataset="cursor_events")
    assert spend() == ledger("cursor_events")


def rollup_rows() -> list:
    fields = ("day", "engineer_id", "vendor", "product", "model", "tokens", "requests", "cost_usd")
    return sorted(DailyUsage.objects.values_list(*fields), key=str)


def max_day_after():
    from datetime import timedelta

    return UsageRecord.objects.order_by("-day").first().day + timedelta(days=1)


def test_the_batch_says_how_many_of_its_rows_do_not_count_and_why(ingest):
    csv = ingest("cursor_usage_export.csv")
    assert import_batch_not_counted(batch=csv) is None
    ingest("cursor_usage_events.json")
    info = import_batch_not_counted(batch=csv)
    assert info.rows == UsageRecord.objects.filter(dataset="cursor_csv").count()
    assert info.primary == "cursor_events" and "Cursor" in info.reason


def test_unrelated_and_billing_sources_are_not_affected(ingest, samples):
    ingest("anthropic_cost_report.json", folder=samples)
    ingest("copilot_metered_usage.csv")
    lines = BillingLine.objects.aggregate(total=Sum("cost_usd"))["total"]
    before = spend()
    ingest("cursor_usage_export.csv")
    ingest("cursor_usage_events.json")
    assert spend() == before + ledger("cursor_events")
    assert BillingLine.objects.aggregate(total=Sum("cost_usd"))["total"] == lines
    assert UsageRecord.objects.filter(dataset="copilot_metered", counted=False).count() == 0
