import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.db.models import Sum

from billing.models import BillingLine, PriceOverride
from billing.services import usage_reprice
from usage.models import (
    DailyUsage,
    Engineer,
    ImportBatch,
    RejectedRow,
    Team,
    TeamMembership,
    UsageRecord,
    VendorIdentity,
)
from usage.services.ingest import import_batch_create, import_batch_process, import_batch_requeue_stale
from usage.services.reattribute import usage_reattribute
from usage.services.rollup import daily_usage_rebuild

pytestmark = pytest.mark.django_db


def usage_report(*results_by_day: tuple[str, list[dict]]) -> bytes:
    """A minimal Anthropic usage report: [(day, [result, ...]), ...]."""
    data = []
    for day, results in results_by_day:
        data.append(
            {
                "starting_at": f"{day}T00:00:00Z",
                "ending_at": f"{day}T23:59:59Z".replace("T23:59:59Z", "T00:00:00Z"),
                "results": results,
            }
        )
    for bucket in data:  # a one-day bucket ends at the next midnight
        start = date.fromisoformat(bucket["starting_at"][:10])
        bucket["ending_at"] = f"{date.fromordinal(start.toordinal() + 1).isoformat()}T00:00:00Z"
    return json.dumps({"data": data, "has_more": False, "next_page": None}).encode()


def result(
    *, key="apikey_1", model="claude-sonnet-4-5", uncached=1_000_000, output=0, read=0, w5=0, w1h=0, context="0-200k"
):
    return {
        "uncached_input_tokens": uncached,
        "cache_creation": {"ephemeral_5m_input_tokens": w5, "ephemeral_1h_input_tokens": w1h},
        "cache_read_input_tokens": read,
        "output_tokens": output,
        "server_tool_use": {"web_search_requests": 0},
        "api_key_id": key,
        "account_id": None,
        "workspace_id": "wrkspc_1",
        "model": model,
        "service_tier": "standard",
        "context_window": context,
        "inference_geo": "global",
    }


@pytest.fixture
def ingest(django_capture_on_commit_callbacks):
    """Create a batch and run the task its commit would queue (eager Celery)."""

    def run(raw: bytes, filename="export.json", **kwargs) -> ImportBatch:
        with django_capture_on_commit_callbacks(execute=True):
            batch = import_batch_create(filename=filename, raw=raw, **kwargs)
        batch.refresh_from_db()
        return batch

    return run


def totals() -> dict:
    agg = DailyUsage.objects.aggregate(tokens=Sum("tokens"), cost=Sum("cost_usd"))
    return {"tokens": agg["tokens"] or 0, "cost": agg["cost"] or Decimal(0), "rows": UsageRecord.objects.count()}


@pytest.fixture
def ada(db):
    team = Team.objects.create(name="Platform")
    engineer = Engineer.objects.create(email="ada@example.com", name="Ada", start_date=date(2024, 1, 1))
    TeamMembership.objects.create(engineer=engineer, team=team, valid_from=date(2024, 1, 1))
    VendorIdentity.objects.create(vendor="anthropic", kind="api_key_id", external_id="apikey_1", engineer=engineer)
    return engineer


def test_a_bucket_is_priced_from_list_prices_per_token_kind(ingest, ada):
    raw = usage_report(
        ("2026-10-01", [result(uncached=1_000_000, output=1_000_000, read=1_000_000, w5=1_000_000, w1h=1_000_000)])
    )
    batch = ingest(raw)
    assert batch.status == "done", batch.error
    row = DailyUsage.objects.get()
    # Sonnet 4.5: 3 in + 15 out + 0.30 read + 3.75 5m write + 6 1h write (2x input) per million.
    assert row.cost_usd == Decimal("28.05")
    assert row.tokens == 5_000_000
    assert row.engineer == ada and row.team.name == "Platform"
    assert UsageRecord.objects.get().cost_source == "computed"


def test_long_context_buckets_are_priced_at_the_long_context_tier(ingest, ada):
    raw = usage_report(("2026-10-01", [result(uncached=1_000_000, context="200k-1M")]))
    ingest(raw)
    assert DailyUsage.objects.get().cost_usd == Decimal("6")


def test_a_big_ordinary_bucket_stays_at_the_base_tier(ingest, ada):
    # 50M tokens summed over a day is many requests, not one long-context request.
    ingest(usage_report(("2026-10-01", [result(uncached=50_000_000)])))
    assert DailyUsage.objects.get().cost_usd == Decimal("150")


def test_dated_model_names_and_aliases_share_a_price_and_a_row(ingest, ada):
    raw = usage_report(("2026-10-01", [result(model="claude-sonnet-4-5"), result(model="claude-sonnet-4-5-20250929")]))
    ingest(raw)
    row = DailyUsage.objects.get()
    assert row.model == "claude-sonnet-4-5"
    assert row.cost_usd == Decimal("6")


def test_reimporting_the_same_file_changes_nothing(ingest, ada):
    raw = usage_report(("2026-10-01", [result()]), ("2026-10-02", [result(output=10)]))
    first = ingest(raw)
    before = totals()
    second = ingest(raw)
    assert second.status == "duplicate" and second.duplicate_of == first
    assert totals() == before


def test_two_files_covering_the_same_buckets_change_nothing(ingest, ada):
    raw = usage_report(("2026-10-01", [result()]), ("2026-10-02", [result(output=10)]))
    ingest(raw)
    before = totals()
    # The same buckets in a differently serialised file: new bytes, same rows.
    again = json.dumps(json.loads(raw), indent=2).encode()
    batch = ingest(again, filename="again.json")
    assert batch.status == "done"
    assert totals() == before
    assert DailyUsage.objects.count() == 2


def test_a_newer_export_of_a_bucket_replaces_it(ingest, ada):
    ingest(usage_report(("2026-10-01", [result(uncached=1_000_000)])))
    ingest(usage_report(("2026-10-01", [result(uncached=2_000_000)])), filename="restated.json")
    assert totals()["tokens"] == 2_000_000
    assert DailyUsage.objects.get().cost_usd == Decimal("6")


def test_an_older_batch_processed_late_does_not_undo_a_newer_one(ingest, ada):
    old = import_batch_create(filename="old.json", raw=usage_report(("2026-10-01", [result(uncached=1_000_000)])))
    new = ingest(usage_report(("2026-10-01", [result(uncached=2_000_000)])), filename="new.json")
    assert new.status == "done"
    # Re-run the older batch as a stale re-queue would.
    ImportBatch.objects.filter(pk=old.pk).update(status="pending")
    import_batch_process(batch_id=old.pk)
    assert totals()["tokens"] == 2_000_000


def test_a_parse_failure_leaves_no_rows_and_names_the_file(ingest, ada, samples):
    batch = ingest((samples / "broken_usage_report.json").read_bytes(), filename="broken_usage_report.json")
    assert batch.status == "failed"
    assert "broken_usage_report.json" in batch.error and "truncated" in batch.error
    assert UsageRecord.objects.count() == 0 and DailyUsage.objects.count() == 0
    assert RejectedRow.objects.count() == 0


def test_bad_rows_are_rejected_with_location_and_reason_and_good_rows_load(ingest, ada):
    raw = usage_report(("2026-10-01", [result(), result(key="apikey_2", uncached=-5)]))
    batch = ingest(raw)
    assert batch.status == "done"
    assert (batch.rows_accepted, batch.rows_rejected) == (1, 1)
    rejected = RejectedRow.objects.get()
    assert rejected.location == "data[0].results[1]"
    assert "uncached_input_tokens is negative" in rejected.reason


def test_unknown_identities_are_kept_as_unmapped_usage(ingest, ada):
    batch = ingest(usage_report(("2026-10-01", [result(key="apikey_nobody")])))
    assert batch.rows_unmapped == 1 and batch.unmapped_cost_usd == Decimal("3")
    row = DailyUsage.objects.get()
    assert row.engineer is None and row.cost_usd == Decimal("3")


def test_unmapped_usage_is_reattributed_after_mapping(ingest, ada):
    ingest(usage_report(("2026-10-01", [result(key="apikey_2")]), ("2026-10-02", [result(key="apikey_2")])))
    assert DailyUsage.objects.filter(engineer__isnull=True).count() == 2
    VendorIdentity.objects.create(vendor="anthropic", kind="api_key_id", external_id="apikey_2", engineer=ada)
    moved = usage_reattribute(identities=[("anthropic", "api_key_id", "apikey_2")])
    assert moved == 2
    assert not DailyUsage.objects.filter(engineer__isnull=True).exists()
    assert DailyUsage.objects.filter(engineer=ada).aggregate(c=Sum("cost_usd"))["c"] == Decimal("6")
    assert usage_reattribute(identities=[("anthropic", "api_key_id", "apikey_2")]) == 0  # run it twice


def test_reattribution_waits_for_an_import_holding_the_same_days(ada, other_connection):
    from django.db import OperationalError, connection

    # A row as ingest writes it (made directly: an import here would hold the day's lock itself).
    batch = ImportBatch.objects.create(filename="x.json", size_bytes=1, sha256="0" * 64, status="done")
    UsageRecord.objects.create(
        batch=batch, dataset="anthropic_usage", dedup_key="k", bucket_start="2026-10-01T00:00:00Z",
        bucket_width="1d", day=date(2026, 10, 1), vendor="anthropic", product="api", account="",
        identity_kind="api_key_id", identity_value="apikey_2", model="claude-sonnet-4-5",
        model_canonical="claude-sonnet-4-5", long_context=False, input_uncached_tokens=1,
        cache_read_tokens=0, cache_write_5m_tokens=0, cache_write_1h_tokens=0, output_tokens=0,
        requests=1, cost_usd=Decimal("1"), cost_source="vendor",
    )  # fmt: skip
    VendorIdentity.objects.create(vendor="anthropic", kind="api_key_id", external_id="apikey_2", engineer=ada)
    # What an import of the same dataset and day holds while it restates those rows.
    other_connection.execute("SELECT pg_advisory_lock(hashtextextended('anthropic_usage:2026-10-01', 0))")
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '300ms'")
    with pytest.raises(OperationalError, match="lock timeout"):
        usage_reattribute(identities=[("anthropic", "api_key_id", "apikey_2")])


def test_an_unknown_model_is_kept_unpriced_and_priced_by_an_override(ingest, ada):
    batch = ingest(usage_report(("2026-10-01", [result(model="claude-mystery-9")])))
    assert batch.unpriced_rows == 1
    record = UsageRecord.objects.get()
    assert record.cost_source == "unpriced" and record.cost_usd == 0
    assert DailyUsage.objects.get().unpriced_tokens == 1_000_000
    PriceOverride.objects.create(
        vendor="anthropic",
        model="claude-mystery-9",
        valid_from=date(2026, 1, 1),
        input_per_mtok_usd=Decimal("2"),
        output_per_mtok_usd=Decimal("10"),
    )
    assert (
        usage_reprice(vendor="anthropic", model="claude-mystery-9", start=date(2026, 10, 1), end=date(2026, 11, 1)) == 1
    )
    assert DailyUsage.objects.get().cost_usd == Decimal("2")
    assert DailyUsage.objects.get().unpriced_tokens == 0
    assert UsageRecord.objects.get().cost_source == "computed"


def test_usage_belongs_to_the_team_of_that_day(ingest, ada):
    platform = ada.memberships.get().team
    applied = Team.objects.create(name="Applied AI")
    TeamMembership.objects.filter(engineer=ada).update(valid_to=date(2026, 10, 2))
    TeamMembership.objects.create(engineer=ada, team=applied, valid_from=date(2026, 10, 2))
    ingest(usage_report(("2026-10-01", [result()]), ("2026-10-02", [result()])))
    teams = dict(DailyUsage.objects.values_list("day", "team__name"))
    assert teams == {date(2026, 10, 1): platform.name, date(2026, 10, 2): "Applied AI"}


def test_the_incremental_rollup_equals_a_full_rebuild(ingest, ada):
    ingest(usage_report(("2026-10-01", [result(), result(key="apikey_x", output=5)])))
    ingest(
        usage_report(("2026-10-01", [result(uncached=7)]), ("2026-10-03", [result(model="claude-haiku-4-5")])),
        filename="b.json",
    )
    fields = ("day", "engineer_id", "model", "tokens", "cost_usd")
    incremental = set(DailyUsage.objects.values_list(*fields))
    daily_usage_rebuild(start=date(2026, 10, 1), end=date(2026, 11, 1))
    rebuilt = set(DailyUsage.objects.values_list(*fields))
    assert incremental == rebuilt


def test_billing_sources_add_nothing_to_spend(ingest, ada, samples):
    batch = ingest((samples / "anthropic_cost_report.json").read_bytes(), filename="anthropic_cost_report.json")
    assert batch.status == "done" and batch.format == "anthropic_cost"
    assert BillingLine.objects.count() == batch.rows_accepted > 0
    assert not DailyUsage.objects.exists() and not UsageRecord.objects.exists()


def test_processing_a_batch_twice_does_nothing_the_second_time(ingest, ada):
    batch = ingest(usage_report(("2026-10-01", [result()])))
    before = totals()
    assert import_batch_process(batch_id=batch.pk).status == "done"
    assert totals() == before


def test_stale_batches_are_requeued_and_processed(ingest, ada, django_capture_on_commit_callbacks):
    batch = ingest(usage_report(("2026-10-01", [result()])))
    UsageRecord.objects.all().delete()
    DailyUsage.objects.all().delete()
    ImportBatch.objects.filter(pk=batch.pk).update(
        status="running", started_at="2020-01-01T00:00:00Z", created_at="2020-01-01T00:00:00Z"
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert import_batch_requeue_stale(older_than_minutes=30) == [batch.pk]
    batch.refresh_from_db()
    assert batch.status == "done" and totals()["tokens"] == 1_000_000


def test_local_logs_without_an_owner_are_refused_and_with_one_are_attributed(ingest, ada):
    raw = (Path(__file__).resolve().parents[1] / "data" / "claude_code_logs.zip").read_bytes()
    refused = ingest(raw, filename="logs.zip")
    assert refused.status == "failed" and "--engineer" in refused.error
    assert not UsageRecord.objects.exists()
    batch = ingest(raw, filename="logs.zip", engineer_email="ADA@example.com")
    assert batch.status == "done" and batch.rows_unmapped == 0
    assert set(DailyUsage.objects.values_list("engineer", flat=True)) == {ada.pk}


def test_timestamps_with_and_without_fractions_load_together(ingest, ada):
    # pandas infers one format from the first row; a whole second written without a
    # fraction after a row with one must not fail the batch.
    raw = (
        b"timestamp,email,vendor,product,model,input_uncached_tokens,output_tokens\n"
        b"2026-03-02T10:00:00.5Z,ada@example.com,anthropic,api,claude-sonnet-4-5,100,10\n"
        b"2026-03-02T10:00:25Z,ada@example.com,anthropic,api,claude-sonnet-4-5,100,10\n"
    )
    batch = ingest(raw, filename="events.csv", format="generic_csv")
    assert batch.status == ImportBatch.Status.DONE, batch.error
    assert totals()["tokens"] == 220


# Big text exports are streamed: parsed a chunk at a time inside the batch's transaction.

EVENT_HEADER = "timestamp,email,vendor,product,model,input_uncached_tokens,output_tokens\n"


def event(second: int, tokens: int = 100, email: str = "ada@example.com") -> str:
    return f"2026-03-02T10:00:{second:02}Z,{email},anthropic,api,claude-sonnet-4-5,{tokens},0\n"


@pytest.fixture
def small_chunks(monkeypatch):
    from usage.importers import generic_csv

    monkeypatch.setattr(generic_csv, "CHUNK_ROWS", 3)


def test_a_streamed_file_loads_the_same_as_one_read_whole(ingest, ada, small_chunks):
    lines = [event(n, tokens=100 + n) for n in range(10)] + ["not,a,valid,row\n"]
    batch = ingest((EVENT_HEADER + "".join(lines)).encode(), filename="events.csv")
    assert batch.status == ImportBatch.Status.DONE, batch.error
    assert (batch.rows_accepted, batch.rows_rejected) == (10, 1)
    assert totals()["tokens"] == sum(100 + n for n in range(10))
    assert list(RejectedRow.objects.values_list("location", flat=True)) == ["line 12"]


def test_a_row_repeated_in_a_later_chunk_counts_once_and_the_earlier_is_reported(ingest, ada, small_chunks):
    lines = [event(1, tokens=100), event(2), event(3), event(4), event(1, tokens=999)]
    batch = ingest((EVENT_HEADER + "".join(lines)).encode(), filename="events.csv")
    assert batch.status == ImportBatch.Status.DONE, batch.error
    assert totals()["tokens"] == 999 + 3 * 100
    rejected = RejectedRow.objects.get(batch=batch)
    assert rejected.location == "line 2" and "later one counts" in rejected.reason


def test_a_row_repeated_where_two_time_ordered_chunks_meet_counts_once(ingest, ada, small_chunks):
    # Chunks [1, 2, 3] and [3, 4, 5] overlap only at second 3: the repeat there is still found.
    lines = [event(1), event(2), event(3, tokens=100), event(3, tokens=999), event(4), event(5)]
    batch = ingest((EVENT_HEADER + "".join(lines)).encode(), filename="events.csv")
    assert batch.status == ImportBatch.Status.DONE, batch.error
    assert totals()["tokens"] == 999 + 4 * 100
    assert RejectedRow.objects.get(batch=batch).location == "line 4"


def test_chunks_whose_times_do_not_overlap_skip_the_search_for_repeats(ingest, ada, small_chunks):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    lines = [event(n, tokens=100 + n) for n in range(9)]
    with CaptureQueriesContext(connection) as queries:
        batch = ingest((EVENT_HEADER + "".join(lines)).encode(), filename="events.csv")
    assert batch.status == ImportBatch.Status.DONE, batch.error
    assert totals()["tokens"] == sum(100 + n for n in range(9))
    assert not [q for q in queries.captured_queries if "DELETE FROM stage_usage s USING" in q["sql"]]


def test_a_bad_byte_in_a_later_chunk_fails_the_file_and_stores_nothing(ingest, ada, small_chunks):
    raw = (EVENT_HEADER + "".join(event(n) for n in range(7))).encode() + b"\xff\xfe broken\n"
    batch = ingest(raw, filename="events.csv")
    assert batch.status == ImportBatch.Status.FAILED
    assert "line 9 is not UTF-8" in batch.error and batch.error.startswith("events.csv: ")
    assert totals() == {"tokens": 0, "cost": Decimal(0), "rows": 0}


def test_a_file_cut_off_mid_line_loads_whole_lines_and_names_the_cut_one(ingest, ada, small_chunks):
    raw = (EVENT_HEADER + "".join(event(n) for n in range(5))).encode() + b"2026-03-02T10:00:59Z,ada@exa"
    batch = ingest(raw, filename="events.csv")
    assert batch.status == ImportBatch.Status.DONE, batch.error
    assert (batch.rows_accepted, batch.rows_rejected) == (5, 1)
    assert RejectedRow.objects.get(batch=batch).location == "line 7"


def test_streaming_reads_a_big_file_a_chunk_at_a_time(ada, small_chunks):
    from usage.importers import generic_csv

    raw = (EVENT_HEADER + "".join(event(n) for n in range(10))).encode()
    chunks = list(generic_csv.parse_chunks(io.BytesIO(raw)))
    assert [len(c.frame) for c in chunks] == [3, 3, 3, 1]
    assert [c.frame["location"].iloc[0] for c in chunks] == ["line 2", "line 5", "line 8", "line 11"]
