"""Exports the samples never showed: odd notations, huge numbers, cut files. Each bad row is a
rejection naming its place, each unreadable file fails with a message, nothing loads wrong."""

import io
import json
import re
from decimal import Decimal

import pytest
from django.db.models import Sum

from billing.models import PriceOverride
from tests.usage.test_importers import anthropic_usage_doc
from tests.usage.test_importers_more import (
    CURSOR_HEADER,
    bedrock_record,
    cursor_csv_doc,
    cursor_event,
    cursor_events_doc,
    cursor_line,
    litellm_row,
    ndjson,
)
from usage.importers import (
    anthropic_usage,
    copilot_metered,
    cursor_csv,
    cursor_events,
    generic_csv,
    litellm_spend,
    openai_costs,
    openai_usage,
    registry,
)
from usage.importers.base import ParseError
from usage.models import DailyUsage, ImportBatch, UsageRecord
from usage.services.ingest import import_batch_create

GENERIC_HEADER = "day,vendor,product,model,email,input_uncached_tokens,output_tokens,cost_usd\n"


def anthropic_bucket(start: str, end: str | None, **fields) -> bytes:
    doc = json.loads(anthropic_usage_doc(**fields))
    doc["data"][0].update(starting_at=start, ending_at=end)
    return json.dumps(doc).encode()


def openai_doc(start_time: int, result: dict) -> bytes:
    return json.dumps(
        {"data": [{"start_time": start_time, "end_time": start_time + 86400, "results": [result]}]}
    ).encode()


@pytest.mark.parametrize("count", [2**63, 2**64 + 5, 2**70])
def test_a_token_count_past_the_bigint_range_is_rejected_not_wrapped_around(count):
    parsed = anthropic_usage.parse(anthropic_usage_doc(output_tokens=count))
    assert parsed.frame.empty
    assert [(r.location, r.reason) for r in parsed.rejections] == [
        ("data[0].results[0]", f"output_tokens is too large: {count}")
    ]


def test_an_openai_input_past_the_bigint_range_is_rejected_not_wrapped_around():
    result = {"input_tokens": 2**64 + 300_000, "input_cached_tokens": 236_142, "output_tokens": 1}
    parsed = openai_usage.parse(openai_doc(1790812800, {**result, "num_model_requests": 1, "model": "gpt-5"}))
    assert parsed.frame.empty
    assert "input_tokens is too large" in parsed.rejections[0].reason


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-10-01T00:00:00+00:00", "2026-10-02T00:00:00+00:00"),
        ("2026-10-01T02:00:00+02:00", "2026-10-02T02:00:00+02:00"),
        ("2026-10-01T00:00:00", "2026-10-02T00:00:00"),
        ("2026-10-01", "2026-10-02"),
    ],
)
def test_anthropic_usage_the_same_bucket_in_another_time_notation_is_the_same_row(start, end):
    usual = anthropic_usage.parse(anthropic_bucket("2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z")).frame
    other = anthropic_usage.parse(anthropic_bucket(start, end)).frame
    columns = ["dedup_key", "bucket_start", "bucket_width"]
    assert other[columns].to_dict("records") == usual[columns].to_dict("records")
    assert usual["bucket_start"].tolist() == ["2026-10-01T00:00:00Z"]


@pytest.mark.parametrize(
    ("start", "end", "reason"),
    [
        ("yesterday", "2026-10-02T00:00:00Z", "starting_at is not an ISO-8601 time: 'yesterday'"),
        ("2026-10-01T00:00:00Z", "tomorrow", "ending_at is not an ISO-8601 time: 'tomorrow'"),
    ],
)
def test_anthropic_usage_a_bucket_with_unreadable_times_is_rejected_whole(start, end, reason):
    parsed = anthropic_usage.parse(anthropic_bucket(start, end))
    assert parsed.frame.empty
    assert [(r.location, r.reason) for r in parsed.rejections] == [("data[0]", reason)]


@pytest.mark.parametrize("module", [openai_usage, openai_costs])
def test_an_openai_bucket_start_no_date_has_is_rejected(module):
    result = {"input_tokens": 10, "output_tokens": 1, "num_model_requests": 1, "model": "gpt-5"}
    result["amount"] = {"value": 1.5, "currency": "usd"}
    parsed = module.parse(openai_doc(10**20, result))
    assert [(r.location, r.reason) for r in parsed.rejections] == [
        ("data[0]", "start_time is not a unix time in seconds: 100000000000000000000")
    ]


def test_a_cursor_event_timestamp_in_seconds_is_rejected_not_dated_1970():
    parsed = cursor_events.parse(cursor_events_doc(cursor_event(), cursor_event(timestamp="1750979225")))
    assert len(parsed.frame) == 1
    assert [(r.location, r.reason) for r in parsed.rejections] == [
        ("usageEvents[1]", "timestamp looks like epoch seconds, not milliseconds: '1750979225'")
    ]


def test_a_time_given_as_a_number_is_named_as_not_iso_rather_than_missing():
    record = {"request_id": "r1", "spend": 0.1, "startTime": 1790813444, "user": "u_1", "prompt_tokens": 1}
    parsed = litellm_spend.parse(json.dumps([record]).encode())
    assert parsed.rejections[0].reason == "startTime is not an ISO-8601 time: 1790813444"


@pytest.mark.parametrize(("amount", "cost"), [("1,234.50", "1234.50"), ("$12.90", "12.90"), ("12.90", "12.90")])
def test_dollars_with_thousands_separators_are_read(amount, cost):
    raw = f'date,product,sku,net_amount,username\n2026-10-01,copilot,Copilot AI Credits,"{amount}",ada\n'
    assert copilot_metered.parse(raw.encode()).frame["cost_usd"].tolist() == [cost]


def test_a_decimal_comma_in_dollars_is_rejected_not_read_as_a_hundred_times_more():
    raw = 'date,product,sku,net_amount,username\n2026-10-01,copilot,Copilot AI Credits,"12,90",ada\n'
    parsed = copilot_metered.parse(raw.encode())
    assert parsed.frame.empty
    assert [(r.location, r.reason) for r in parsed.rejections] == [("line 2", "net_amount is not a number: '12,90'")]


@pytest.mark.parametrize("ending", ["\n", ""])
def test_generic_csv_a_row_with_too_few_values_is_rejected_not_padded_with_zeros(ending):
    """A row cut short mid-file, or the last line of a download that stopped mid-line."""
    raw = (
        GENERIC_HEADER
        + "2026-10-01,cursor,cursor,gpt-5,bob@example.com,1200,4500,0.42\n"
        + "2026-10-01,cursor,cursor,gpt-5,ada@example.com,1200"
        + ending
    ).encode()
    for parsed in (generic_csv.parse(raw), *generic_csv.parse_chunks(io.BytesIO(raw))):
        assert parsed.frame["identity_value"].tolist() == ["bob@example.com"]
        assert [(r.location, r.reason) for r in parsed.rejections] == [
            ("line 3", "6 values for 8 columns: the row is cut short")
        ]


@pytest.fixture
def ingest(django_capture_on_commit_callbacks):
    def run(raw: bytes, filename: str = "export.json") -> ImportBatch:
        with django_capture_on_commit_callbacks(execute=True):
            batch = import_batch_create(filename=filename, raw=raw)
        batch.refresh_from_db()
        return batch

    return run


@pytest.mark.django_db
def test_the_same_buckets_restated_in_another_time_notation_change_nothing(ingest):
    ingest(anthropic_bucket("2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z"))
    before = DailyUsage.objects.aggregate(tokens=Sum("tokens"))
    batch = ingest(anthropic_bucket("2026-10-01T00:00:00+00:00", "2026-10-02T00:00:00+00:00"), "again.json")
    assert batch.status == "done"
    assert UsageRecord.objects.count() == 1
    assert DailyUsage.objects.aggregate(tokens=Sum("tokens")) == before


@pytest.mark.django_db
def test_an_importer_slip_fails_the_batch_naming_the_file_instead_of_leaving_it_running(ingest, monkeypatch):
    def slip(raw, *, format=None):
        raise TypeError("can't subtract offset-naive and offset-aware datetimes")

    monkeypatch.setattr(registry, "parse", slip)
    batch = ingest(anthropic_usage_doc(), "odd.json")
    assert batch.status == "failed"
    assert (
        batch.error == "odd.json: could not be read (TypeError: can't subtract offset-naive and offset-aware datetimes)"
    )
    assert UsageRecord.objects.count() == 0


@pytest.mark.django_db
def test_a_day_before_any_ai_usage_is_a_mistyped_year_rejected_by_row(ingest):
    raw = (
        GENERIC_HEADER
        + "1926-10-01,anthropic,api,claude-sonnet-4-5,ada@example.com,1000,100,1.25\n"
        + "2026-10-01,anthropic,api,claude-sonnet-4-5,ada@example.com,1000,100,2.00\n"
    ).encode()
    batch = ingest(raw, filename="usage.csv")
    assert (batch.status, batch.rows_accepted, batch.rows_rejected) == ("done", 1, 1)
    rejected = batch.rejected_rows.get()
    assert rejected.location == "line 2"
    assert rejected.reason == "dated 1926-10-01, before 2020-01-01: no AI usage is that old (a mistyped year?)"
    assert DailyUsage.objects.aggregate(total=Sum("cost_usd"))["total"] == 2


COPILOT_DAY = {"day": "2026-10-01", "user_login": "ada", "totals_by_cli": {"token_usage": {"prompt_tokens_sum": 10}}}


@pytest.mark.parametrize("broken_line", [1, 2])
def test_ndjson_with_a_broken_first_or_second_line_is_still_recognised_and_that_line_rejected(broken_line):
    lines = [json.dumps({**COPILOT_DAY, "user_login": login}) for login in ("ada", "bob", "cyd")]
    lines.insert(broken_line - 1, "{broken")
    parsed = registry.parse(("\n".join(lines) + "\n").encode())
    assert parsed.format == "copilot_metrics"
    assert parsed.frame["identity_value"].tolist() == ["ada", "bob", "cyd"]
    assert [r.location for r in parsed.rejections] == [f"line {broken_line}"]


def test_bedrock_logs_with_a_broken_second_line_are_still_recognised():
    raw = ndjson(bedrock_record()) + b"{broken\n" + ndjson(bedrock_record(requestId="other"))
    parsed = registry.parse(raw)
    assert (parsed.format, len(parsed.frame)) == ("bedrock_invocations", 2)
    assert [r.location for r in parsed.rejections] == ["line 2"]


def test_ndjson_whose_last_line_is_cut_still_fails_as_truncated():
    raw = (json.dumps(COPILOT_DAY) + "\n" + json.dumps(COPILOT_DAY)[:30]).encode()
    with pytest.raises(ParseError, match=r"truncated: its last line \(2\)"):
        registry.parse(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            b"date,product,sku,username\n2026-10-01,copilot,Copilot AI Credits,ada\n",
            "looks like a GitHub metered usage report (copilot_metered) but has no net_amount column "
            "(expected product, sku, net_amount)",
        ),
        (
            b"date,product,net_amount,username\n2026-10-01,copilot,1.00,ada\n",
            "looks like a GitHub metered usage report (copilot_metered) but has no sku column",
        ),
        (
            CURSOR_HEADER.replace(",Model", "").encode() + b"\n",
            "looks like a Cursor usage CSV export (cursor_csv) but has no Model column",
        ),
        (
            b"spend,startTime,model\n0.1,2026-10-01T00:00:00Z,gpt-5\n",
            "looks like LiteLLM spend logs (litellm_spend) but has no request_id column",
        ),
        (
            json.dumps([{"spend": 0.1, "startTime": "2026-10-01T00:00:00Z"}]).encode(),
            "looks like LiteLLM spend logs (litellm_spend) but has no request_id column",
        ),
    ],
)
def test_an_export_missing_a_column_it_is_known_by_is_named_rather_than_unknown(raw, message):
    with pytest.raises(ParseError, match=re.escape(message)):
        registry.parse(raw)


@pytest.mark.parametrize(
    ("format", "raw", "column"),
    [
        ("copilot_metered", b"date,product,sku,username\n2026-10-01,copilot,x,ada\n", "net_amount"),
        ("cursor_csv", CURSOR_HEADER.replace(",Model", "").encode() + b"\n", "Model"),
        ("litellm_spend", b"spend,startTime\n0.1,2026-10-01T00:00:00Z\n", "request_id"),
    ],
)
def test_an_export_missing_a_column_names_it_when_its_format_is_given_too(format, raw, column):
    with pytest.raises(ParseError, match=f"missing column.*{re.escape(column)}"):
        registry.parse(raw, format=format)


@pytest.mark.parametrize(
    ("module", "raw", "reason"),
    [
        (generic_csv, GENERIC_HEADER + "2026-10-01,a,api,m,ada@x.com,1,1,1e30\n", "cost_usd is too large: '1e30'"),
        (
            generic_csv,
            GENERIC_HEADER + f"2026-10-01,a,api,m,ada@x.com,1,1,{10**30}\n",
            f"cost_usd is too large: '{10**30}'",
        ),
        (litellm_spend, json.dumps([litellm_row(spend=1e20)]), "spend is too large: 1e+20"),
        (
            cursor_events,
            cursor_events_doc(cursor_event(tokenUsage={"inputTokens": 1, "totalCents": 1e300})).decode(),
            "tokenUsage.totalCents is too large",
        ),
    ],
)
def test_money_too_large_for_the_ledger_is_rejected_naming_the_field(module, raw, reason):
    parsed = module.parse(raw.encode())
    assert parsed.frame.empty
    assert reason in parsed.rejections[0].reason


def test_a_token_count_past_a_quadrillion_is_rejected_so_sums_stay_inside_a_bigint():
    raw = GENERIC_HEADER + f"2026-10-01,a,api,m,ada@x.com,{2**62},{2**62},1\n"
    parsed = generic_csv.parse(raw.encode())
    assert [r.reason for r in parsed.rejections] == [f"input_uncached_tokens is too large: '{2**62}'"]


def test_a_fraction_longer_than_postgres_reads_is_rounded_not_failing_the_file():
    raw = GENERIC_HEADER + "2026-10-01,a,api,m,ada@x.com,1,1,0." + "0" * 20000 + "1\n"
    assert generic_csv.parse(raw.encode()).frame["cost_usd"].tolist() == ["0.00000000000000000000"]


@pytest.mark.django_db
def test_a_row_whose_tokens_would_cost_more_than_the_ledger_holds_is_rejected_by_row(ingest):
    """A quadrillion tokens at list prices fit; at an override's (up to $10^8 a million) they do not."""
    PriceOverride.objects.create(
        vendor="acme", model="big", valid_from="2026-01-01", input_per_mtok_usd=10**6, output_per_mtok_usd=10**6
    )
    raw = (
        GENERIC_HEADER
        + f"2026-10-01,acme,api,big,ada@example.com,{10**15 - 1},0,\n"
        + "2026-10-01,acme,api,big,bob@example.com,1000,100,\n"
    ).encode()
    batch = ingest(raw, filename="usage.csv")
    assert (batch.status, batch.rows_accepted, batch.rows_rejected) == ("done", 1, 1)
    rejected = batch.rejected_rows.get()
    assert rejected.location == "line 2"
    assert rejected.reason == "its tokens at big's price cost $1,000,000,000,000 or more: a token count is wrong"
    assert DailyUsage.objects.aggregate(total=Sum("cost_usd"))["total"] == Decimal("1100")


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ("m" * 201 + ",ada@example.com", "model is 201 characters long; 200 fit"),
        ('"claude\x00",ada@example.com', "model holds a NUL character (\\u0000)"),
        ('m,"ada\x00@example.com"', "identity_value holds a NUL character (\\u0000)"),
        ("m," + "a" * 250 + "@example.com", "identity_value is 262 characters long; 255 fit"),
    ],
)
@pytest.mark.django_db
def test_text_the_database_cannot_hold_is_rejected_by_row_naming_the_field(ingest, cells, reason):
    raw = (
        GENERIC_HEADER
        + f"2026-10-01,anthropic,api,{cells},1000,100,1.25\n"
        + "2026-10-01,anthropic,api,claude-sonnet-4-5,bob@example.com,1000,100,2.00\n"
    ).encode()
    batch = ingest(raw, filename="usage.csv")
    assert (batch.status, batch.rows_accepted, batch.rows_rejected) == ("done", 1, 1)
    assert [(r.location, r.reason) for r in batch.rejected_rows.all()] == [("line 2", reason)]


@pytest.mark.django_db
def test_a_nul_in_a_vendor_export_is_rejected_by_row_and_its_raw_line_kept(ingest):
    raw = cursor_csv_doc(cursor_line(Model="claude\x00"), cursor_line(User="bob@corp.com"))
    batch = ingest(raw, filename="cursor.csv")
    assert (batch.status, batch.rows_accepted, batch.rows_rejected) == ("done", 1, 1)
    assert batch.rejected_rows.get().reason == "model holds a NUL character (\\u0000)"


def test_a_litellm_csv_without_token_columns_fails_naming_them():
    raw = b"request_id,spend,startTime,user\nr1,0.1,2026-10-01T00:00:00Z,u_1\n"
    with pytest.raises(ParseError, match="missing column.*prompt_tokens, completion_tokens"):
        registry.parse(raw)


@pytest.mark.parametrize("key", ["prompt_tokens", "completion_tokens"])
def test_a_litellm_row_without_a_token_count_is_rejected_not_loaded_as_zero(key):
    row = litellm_row()
    del row[key]
    parsed = litellm_spend.parse(json.dumps([litellm_row(request_id="ok"), row]).encode())
    assert len(parsed.frame) == 1
    assert [(r.location, r.reason) for r in parsed.rejections] == [("[1]", f"{key} is missing")]


@pytest.mark.parametrize("column", ["Input (w/o Cache Write)", "Input (w/ Cache Write)", "Cache Read", "Output Tokens"])
def test_a_cursor_csv_empty_token_cell_is_rejected_not_moved_into_cache_writes(column):
    parsed = cursor_csv.parse(cursor_csv_doc(cursor_line(**{column: ""})))
    assert parsed.frame.empty
    assert [(r.location, r.reason) for r in parsed.rejections] == [("line 2", f"{column} is empty")]


def test_a_vendor_report_whose_results_miss_a_field_it_is_known_by_names_the_field():
    from pathlib import Path

    samples = Path(__file__).resolve().parents[3] / "shared" / "samples" / "company-small"
    doc = json.loads((samples / "anthropic_usage_report_p1.json").read_bytes())
    for bucket in doc["data"]:
        for result in bucket["results"]:
            result.pop("uncached_input_tokens")
    with pytest.raises(registry.ParseError) as refused:
        registry.detect_format(json.dumps(doc).encode())
    assert str(refused.value).startswith(
        "looks like an Anthropic usage report (anthropic_usage) but has no uncached_input_tokens column"
    )
