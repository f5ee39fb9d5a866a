"""The importers of issue 6 (Cursor, Copilot, local Claude Code / Codex logs, LiteLLM, Bedrock,
Google Cloud billing) are pure: bytes in, canonical frame and rejections out. No database here."""

import csv
import gzip
import io
import json
import zipfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from usage.importers import (
    bedrock_invocations,
    claude_code_logs,
    codex_logs,
    copilot_metered,
    copilot_metrics,
    copilot_premium,
    cursor_csv,
    cursor_events,
    gcp_billing,
    litellm_spend,
    registry,
)
from usage.importers.base import TOKEN_COLUMNS, USAGE_COLUMNS, ParseError

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "company-small"
DATA = Path(__file__).resolve().parents[1] / "data"


def sample(name: str) -> bytes:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"the shared samples are not beside the checkout ({SAMPLES})")
    return path.read_bytes()


def more_expected() -> dict:
    return json.loads(sample("more_expected.json"))


def data(name: str) -> bytes:
    return (DATA / name).read_bytes()


def as_bytes(doc: object) -> bytes:
    return json.dumps(doc).encode()


def ndjson(*records: dict) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def zipped(members: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def tokens_by_identity(frame) -> dict[str, int]:
    totals = frame.assign(tokens=frame[list(TOKEN_COLUMNS)].sum(axis=1)).groupby("identity_value")["tokens"].sum()
    return {k: int(v) for k, v in totals.items()}


def cost_by_identity(frame) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for value, cost in zip(frame["identity_value"], frame["cost_usd"], strict=True):
        totals[value] = totals.get(value, Decimal(0)) + Decimal(cost)
    return totals


def only_row(parsed):
    assert parsed.rejections == []
    assert len(parsed.frame) == 1
    return parsed.frame.iloc[0]


# Detection, archives and whole-file failures.


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cursor_usage_events.json", "cursor_events"),
        ("cursor_usage_export.csv", "cursor_csv"),
        ("cursor_usage_export_old.csv", "cursor_csv"),
        ("copilot_users_1_day.ndjson", "copilot_metrics"),
        ("copilot_metered_usage.csv", "copilot_metered"),
        ("copilot_premium_usage.json", "copilot_premium"),
        ("claude_code_logs.zip", "claude_code_logs"),
        ("codex_logs.zip", "codex_logs"),
        ("litellm_spend_logs.json", "litellm_spend"),
        ("litellm_spend_logs.csv", "litellm_spend"),
        ("bedrock_invocations.jsonl", "bedrock_invocations"),
        ("gcp_billing_export.jsonl", "gcp_billing"),
    ],
)
def test_each_small_sample_is_detected_as_its_format_and_parses_into_canonical_columns(name, expected):
    raw = data(name)
    assert registry.detect_format(raw) == expected
    parsed = registry.parse(raw)
    assert parsed.format == expected
    assert list(parsed.frame.columns) == list(USAGE_COLUMNS)
    assert len(parsed.frame) > 0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cursor_usage_events.json", "cursor_events"),
        ("cursor_usage_export.csv", "cursor_csv"),
        ("copilot_users_1_day.ndjson", "copilot_metrics"),
        ("copilot_metered_usage.csv", "copilot_metered"),
        ("claude_code_logs_0.zip", "claude_code_logs"),
        ("claude_code_logs_1.zip", "claude_code_logs"),
        ("codex_logs_0.zip", "codex_logs"),
        ("codex_logs_1.zip", "codex_logs"),
        ("litellm_spend_logs.json", "litellm_spend"),
    ],
)
def test_each_shared_sample_is_detected_and_parses_without_rejections(name, expected):
    raw = sample(name)
    assert registry.detect_format(raw) == expected
    assert registry.parse(raw).rejections == []


@pytest.mark.parametrize(
    "name",
    [
        "cursor_usage_events.json",
        "cursor_usage_export.csv",
        "copilot_users_1_day.ndjson",
        "copilot_metered_usage.csv",
        "claude_code_logs_0.zip",
        "claude_code_logs_1.zip",
        "codex_logs_0.zip",
        "codex_logs_1.zip",
        "litellm_spend_logs.json",
    ],
)
def test_each_shared_sample_gives_the_tokens_of_more_expected_per_person(name):
    expected = more_expected()
    parsed = registry.parse(sample(name))
    got = tokens_by_identity(parsed.frame)
    if name in expected["uploads"]:
        got = {expected["uploads"][name]: sum(got.values())}  # local logs: the uploader's
    for identity, tokens in got.items():
        email = identity if "@" in identity else None
        if email is None:
            continue  # GitHub logins: checked in the acceptance test, through the org chart
        assert tokens == expected["engineers"][email]["tokens"], (name, email)


@pytest.mark.parametrize(
    ("name", "people"),
    [
        ("cursor_usage_events.json", {"dennis.lovelace@example.com", "leslie.knuth@example.com"}),
        ("cursor_usage_export.csv", {"bjarne.liskov@example.com", "niklaus.knuth@example.com"}),
        ("litellm_spend_logs.json", {"barbara.ritchie@example.com", "margaret.sutherland@example.com"}),
    ],
)
def test_vendor_cost_of_the_shared_samples_matches_more_expected_exactly(name, people):
    expected = more_expected()["engineers"]
    got = cost_by_identity(registry.parse(sample(name)).frame)
    assert set(got) == people
    for email in people:
        assert got[email].quantize(Decimal("0.000001")) == Decimal(expected[email]["cost_usd"]), email


@pytest.mark.parametrize(
    "name",
    [
        "cursor_usage_events.json",
        "cursor_usage_export.csv",
        "copilot_users_1_day.ndjson",
        "copilot_metered_usage.csv",
        "copilot_premium_usage.json",
        "claude_code_logs.zip",
        "codex_logs.zip",
        "litellm_spend_logs.json",
        "litellm_spend_logs.csv",
        "bedrock_invocations.jsonl",
        "gcp_billing_export.jsonl",
    ],
)
def test_parsing_a_file_twice_gives_the_same_rows_and_unique_keys(name):
    first, second = registry.parse(data(name)), registry.parse(data(name))
    assert first.frame.equals(second.frame)
    assert not first.frame.duplicated(subset=["dedup_key", "bucket_start"]).any()


def test_a_gzipped_export_is_read_as_its_content():
    raw = gzip.compress(data("bedrock_invocations.jsonl"))
    assert registry.detect_format(raw) == "bedrock_invocations"
    assert len(registry.parse(raw).frame) == 3


def test_a_truncated_gzip_file_fails_whole_saying_so():
    raw = gzip.compress(data("bedrock_invocations.jsonl"))
    with pytest.raises(ParseError, match="truncated"):
        registry.parse(raw[: len(raw) // 2])


def test_a_truncated_zip_fails_whole_with_a_message_about_the_archive():
    raw = data("claude_code_logs.zip")
    with pytest.raises(ParseError, match="not a readable zip archive"):
        registry.parse(raw[: len(raw) // 2])
    with pytest.raises(ParseError, match="not a readable zip archive"):
        claude_code_logs.parse(raw[: len(raw) // 2])


def test_a_zip_member_that_cannot_be_unpacked_fails_whole_naming_it():
    raw = bytearray(data("codex_logs.zip"))
    start = raw.index(b"rollout-2026-10-29-01.jsonl") + len(b"rollout-2026-10-29-01.jsonl")
    raw[start + 20 : start + 40] = b"\x00" * 20  # damage the compressed data, keep the index
    with pytest.raises(ParseError, match="rollout-2026-10-29-01.jsonl"):
        codex_logs.parse(bytes(raw))


def test_a_zip_of_something_else_is_refused_naming_what_was_expected():
    with pytest.raises(ParseError, match="Claude Code logs"):
        registry.detect_format(zipped({"photos/cat.jpg": b"\xff\xd8", "readme.txt": "hello"}))


def test_a_zip_without_logs_is_refused_by_the_log_importers():
    with pytest.raises(ParseError, match="no .jsonl files"):
        claude_code_logs.parse(zipped({"readme.txt": "hello"}))


# Cursor usage events (Admin API).


def cursor_event(**fields) -> dict:
    event = {
        "timestamp": "1750979225854",
        "model": "claude-4-opus",
        "kind": "Usage-based",
        "maxMode": True,
        "requestsCosts": 5,
        "isTokenBasedCall": True,
        "tokenUsage": {
            "inputTokens": 126,
            "outputTokens": 450,
            "cacheWriteTokens": 6112,
            "cacheReadTokens": 11964,
            "totalCents": 20.18232,
        },
        "isFreeBugbot": False,
        "userEmail": "Developer@Company.com",
    }
    return {k: v for k, v in {**event, **fields}.items() if v is not ...}


def cursor_events_doc(*events: dict) -> bytes:
    return as_bytes({"totalUsageEventsCount": len(events), "usageEvents": list(events or [cursor_event()])})


def test_cursor_event_total_cents_are_cents_kept_exactly():
    row = only_row(cursor_events.parse(cursor_events_doc()))
    assert Decimal(row["cost_usd"]) == Decimal("0.2018232")


def test_cursor_event_charged_cents_win_over_total_cents():
    usage = {**cursor_event()["tokenUsage"], "chargedCents": 25.5}
    row = only_row(cursor_events.parse(cursor_events_doc(cursor_event(tokenUsage=usage))))
    assert Decimal(row["cost_usd"]) == Decimal("0.255")


def test_cursor_event_timestamp_is_a_string_of_epoch_milliseconds():
    row = only_row(cursor_events.parse(cursor_events_doc()))
    assert (row["bucket_start"], row["bucket_width"]) == ("2025-06-26T23:07:05.854000Z", "event")


def test_cursor_event_input_tokens_exclude_cache_which_comes_separately():
    row = only_row(cursor_events.parse(cursor_events_doc()))
    assert row["input_uncached_tokens"] == 126
    assert (row["cache_write_5m_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (6112, 11964, 450)
    assert (row["identity_kind"], row["identity_value"]) == ("email", "developer@company.com")


def test_a_cursor_event_without_token_usage_is_an_included_request_at_zero_cost():
    event = cursor_event(kind="Included in Business", isTokenBasedCall=False, tokenUsage=...)
    row = only_row(cursor_events.parse(cursor_events_doc(event)))
    assert row[list(TOKEN_COLUMNS)].sum() == 0
    assert (row["requests"], row["cost_usd"]) == (1, "0")


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "Included in Business"},
        {"kind": "USAGE_EVENT_KIND_ERRORED_NOT_CHARGED"},
        {"kind": "Usage-based", "isChargeable": False},
    ],
)
def test_an_included_or_uncharged_token_based_cursor_event_keeps_its_tokens_at_zero_cost(fields):
    row = only_row(cursor_events.parse(cursor_events_doc(cursor_event(**fields))))
    assert row["output_tokens"] == 450
    assert row["cost_usd"] == "0"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"tokenUsage": ...}, "tokenUsage is missing"),
        ({"tokenUsage": {"inputTokens": -1, "totalCents": 1}}, "tokenUsage.inputTokens is negative"),
        ({"tokenUsage": {"outputTokens": "many", "totalCents": 1}}, "tokenUsage.outputTokens is not a whole number"),
        ({"tokenUsage": {"inputTokens": 1, "totalCents": -3}}, "tokenUsage.totalCents is negative"),
        ({"timestamp": "2025-06-26"}, "timestamp is not epoch milliseconds"),
        ({"userEmail": ...}, "userEmail is missing"),
        ({"isTokenBasedCall": False, "tokenUsage": ...}, "price is not in the export"),
    ],
)
def test_bad_cursor_events_are_rejected_with_location_and_reason(fields, reason):
    parsed = cursor_events.parse(cursor_events_doc(cursor_event(), cursor_event(**fields)))
    assert len(parsed.frame) == 1
    assert [r.location for r in parsed.rejections] == ["usageEvents[1]"]
    assert reason in parsed.rejections[0].reason


def test_a_truncated_cursor_events_page_fails_whole_saying_truncated():
    with pytest.raises(ParseError, match="truncated"):
        registry.parse(cursor_events_doc()[:-40])


def test_cursor_events_pages_in_one_list_are_all_read():
    parsed = cursor_events.parse(
        as_bytes([{"usageEvents": [cursor_event()]}, {"usageEvents": [cursor_event(timestamp="1750979225999")]}])
    )
    assert list(parsed.frame["location"]) == ["[0].usageEvents[0]", "[1].usageEvents[0]"]


# Cursor dashboard CSV export.

CURSOR_HEADER = (
    "Date,User,Cloud Agent ID,Automation ID,Kind,Model,Max Mode,Input (w/ Cache Write),"
    "Input (w/o Cache Write),Cache Read,Output Tokens,Total Tokens,Cost"
)
CURSOR_LINE = '"2026-10-01T10:00:00.000Z","Dev@Corp.com","","","Included","claude-4-sonnet","No","1200","1000","5000","300","6500","0.12"'


def cursor_csv_doc(*lines: str, header: str = CURSOR_HEADER) -> bytes:
    return ("\n".join([header, *(lines or [CURSOR_LINE])]) + "\n").encode()


def cursor_line(**cells) -> str:
    names = CURSOR_HEADER.split(",")
    values = dict(zip(names, next(csv.reader([CURSOR_LINE])), strict=True))
    values.update(cells)
    return ",".join(f'"{values[n]}"' for n in names)


def test_cursor_csv_input_with_cache_write_includes_the_uncached_input():
    row = only_row(cursor_csv.parse(cursor_csv_doc(cursor_line(Kind="Usage-based"))))
    assert (row["input_uncached_tokens"], row["cache_write_5m_tokens"]) == (1000, 200)
    assert (row["cache_read_tokens"], row["output_tokens"]) == (5000, 300)
    assert row[list(TOKEN_COLUMNS)].sum() == 6500  # Total Tokens


@pytest.mark.parametrize(
    ("cost", "kind", "expected"),
    [
        ("$0.01", "Usage-based", "0.01"),
        ("$1,234.50", "Usage-based", "1234.50"),
        ("0.12", "Usage-based", "0.12"),
        ("Included", "Included", "0"),
        ("Free", "Free", "0"),
        ("$0.04", "Errored, No Charge", "0"),
        ("", "Usage-based", None),
    ],
)
def test_cursor_csv_cost_is_dollars_written_many_ways(cost, kind, expected):
    row = only_row(cursor_csv.parse(cursor_csv_doc(cursor_line(Cost=cost, Kind=kind))))
    assert row["cost_usd"] == expected


def test_cursor_csv_columns_are_found_by_name_whatever_their_order():
    header = (
        "Model,Cost,Total Tokens,Output Tokens,Cache Read,Input (w/o Cache Write),Input (w/ Cache Write),Kind,User,Date"
    )
    line = "gpt-5,$2.50,6500,300,5000,1000,1200,Usage-based,a@corp.com,2026-10-01T10:00:00.000Z"
    row = only_row(cursor_csv.parse(cursor_csv_doc(line, header=header)))
    assert (row["model"], row["cost_usd"], row["identity_value"], row["cache_write_5m_tokens"]) == (
        "gpt-5",
        "2.50",
        "a@corp.com",
        200,
    )


def test_an_older_cursor_csv_without_user_is_the_uploaders_own_and_cost_to_you_wins():
    parsed = cursor_csv.parse(data("cursor_usage_export_old.csv"))
    assert parsed.rejections == []
    assert set(parsed.frame["identity_kind"]) == {""}  # the engineer is named at import
    assert list(parsed.frame["cost_usd"]) == ["0.40", "0", "0"]


def test_a_cursor_csv_whose_four_token_columns_add_up_to_the_total_reads_the_write_column_as_writes():
    row = only_row(cursor_csv.parse(cursor_csv_doc(cursor_line(**{"Total Tokens": "7500"}))))
    assert (row["input_uncached_tokens"], row["cache_write_5m_tokens"]) == (1000, 1200)


def test_a_cursor_csv_with_requests_instead_of_cost_is_priced_from_tokens():
    header = "Date,User,Kind,Model,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,Requests"
    row = only_row(
        cursor_csv.parse(cursor_csv_doc("2026-10-01T10:00:00Z,a@corp.com,Usage-based,gpt-5,10,10,0,5,3", header=header))
    )
    assert (row["cost_usd"], row["requests"]) == (None, 3)


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"Output Tokens": "-5"}, "Output Tokens is negative"),
        ({"Cache Read": "lots"}, "Cache Read is not a number"),
        ({"Cost": "$-1.00"}, "Cost is negative"),
        ({"Cost": "soon"}, "Cost is not a number"),
        ({"Date": "yesterday"}, "Date is not an ISO-8601 time"),
        ({"Total Tokens": "9"}, "Total Tokens 9 is neither"),
        ({"Input (w/ Cache Write)": "900", "Total Tokens": "6200"}, "less than Input (w/o Cache Write)"),
        ({"User": ""}, "User is empty"),
    ],
)
def test_bad_cursor_csv_rows_are_rejected_at_their_line(cells, reason):
    parsed = cursor_csv.parse(cursor_csv_doc(CURSOR_LINE, cursor_line(**cells)))
    assert len(parsed.frame) == 1
    assert [r.location for r in parsed.rejections] == ["line 3"]
    assert reason in parsed.rejections[0].reason


def test_a_cursor_csv_missing_a_token_column_fails_whole_naming_it():
    header = CURSOR_HEADER.replace(",Cache Read", "")
    with pytest.raises(ParseError, match="'Cache Read'"):
        cursor_csv.parse(cursor_csv_doc('"2026-10-01","a@b.c","","","x","m","No","1","1","1","3","1"', header=header))


def test_a_truncated_cursor_csv_fails_whole_saying_truncated():
    raw = cursor_csv_doc(CURSOR_LINE, CURSOR_LINE)
    with pytest.raises(ParseError, match="truncated"):
        cursor_csv.parse(raw[:-20])


# GitHub Copilot.


def copilot_record(**fields) -> dict:
    record = {
        "day": "2026-10-01",
        "enterprise_id": "1",
        "organization_id": "77",
        "user_id": 1,
        "user_login": "Octo-Cat",
        "used_cli": True,
        "totals_by_cli": {
            "session_count": 2,
            "request_count": 2,
            "prompt_count": 2,
            "token_usage": {"avg_tokens_per_request": 4400.0, "output_tokens_sum": 5000, "prompt_tokens_sum": 3800},
        },
        "totals_by_ide": [],
    }
    return {k: v for k, v in {**record, **fields}.items() if v is not ...}


def test_copilot_metrics_tokens_come_from_the_cli_totals_by_github_login_and_day():
    row = only_row(copilot_metrics.parse(ndjson(copilot_record(), copilot_record(totals_by_cli=...))))
    assert (row["identity_kind"], row["identity_value"]) == ("github_login", "octo-cat")
    assert (row["bucket_start"], row["bucket_width"]) == ("2026-10-01T00:00:00Z", "1d")
    assert (row["input_uncached_tokens"], row["output_tokens"], row["requests"]) == (3800, 5000, 2)


def test_copilot_metrics_carry_no_dollars_which_come_from_the_metered_report():
    parsed = copilot_metrics.parse(ndjson(copilot_record(), copilot_record(day="2026-10-02")))
    assert list(parsed.frame["cost_usd"]) == ["0", "0"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"totals_by_cli": {"token_usage": {"prompt_tokens_sum": -1}}}, "prompt_tokens_sum is negative"),
        ({"totals_by_cli": {"token_usage": {"output_tokens_sum": "x"}}}, "output_tokens_sum is not a whole number"),
        ({"day": "10/01/2026"}, "day is not a date"),
        ({"user_login": ""}, "user_login is missing"),
    ],
)
def test_bad_copilot_metrics_lines_are_rejected_with_their_line(fields, reason):
    parsed = copilot_metrics.parse(ndjson(copilot_record(), copilot_record(**fields)))
    assert [r.location for r in parsed.rejections] == ["line 2"]
    assert reason in parsed.rejections[0].reason


def test_a_copilot_metrics_line_that_is_not_json_is_rejected_but_a_cut_off_last_line_fails_the_file():
    good = ndjson(copilot_record())
    parsed = copilot_metrics.parse(good + b"{oops\n" + good)
    assert [(r.location, r.reason.split(":")[0]) for r in parsed.rejections] == [("line 2", "not valid JSON")]
    with pytest.raises(ParseError, match="truncated"):
        copilot_metrics.parse(good + good[:30])


METERED_HEADER = (
    "date,product,sku,quantity,unit_type,applied_cost_per_quantity,gross_amount,discount_amount,net_amount,"
    "username,organization,repository,workflow_path,cost_center_name"
)


def metered_doc(*lines: str) -> bytes:
    return ("\n".join([METERED_HEADER, *lines]) + "\n").encode()


def test_copilot_metered_net_amount_is_dollars_per_login_and_day():
    parsed = copilot_metered.parse(
        metered_doc("2026-06-03,copilot,Copilot AI Credits,1250,Credit,0.01,12.50,10.00,2.50,OctoCat,acme,,,platform")
    )
    row = only_row(parsed)
    assert (row["cost_usd"], row["identity_kind"], row["identity_value"]) == ("2.50", "github_login", "octocat")
    assert (row["bucket_start"], row["bucket_width"], row["model"]) == (
        "2026-06-03T00:00:00Z",
        "1d",
        "Copilot AI Credits",
    )
    assert row[list(TOKEN_COLUMNS)].sum() == 0


def test_copilot_metered_rows_of_other_products_are_one_rejection_per_product():
    parsed = copilot_metered.parse(data("copilot_metered_usage.csv"))
    assert len(parsed.frame) == 3
    assert [(r.location, "actions" in r.reason) for r in parsed.rejections] == [("line 5", True)]


def test_copilot_metered_row_without_a_username_stays_under_the_organization():
    row = only_row(
        copilot_metered.parse(metered_doc("2026-06-03,copilot,Copilot Business,1,user-month,19,19,0,19,,acme,,,"))
    )
    assert (row["identity_kind"], row["identity_value"]) == ("github_org", "acme")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("2026-06-03,copilot,Copilot AI Credits,1,Credit,0.01,1,0,-1.00,octocat,acme,,,", "net_amount is negative"),
        ("2026-06-03,copilot,Copilot AI Credits,1,Credit,0.01,1,0,n/a,octocat,acme,,,", "net_amount is not a number"),
        ("06/03/2026,copilot,Copilot AI Credits,1,Credit,0.01,1,0,1,octocat,acme,,,", "date is not a date"),
    ],
)
def test_bad_copilot_metered_rows_are_rejected_at_their_line(line, reason):
    parsed = copilot_metered.parse(metered_doc(line))
    assert [r.location for r in parsed.rejections] == ["line 2"]
    assert reason in parsed.rejections[0].reason


def test_copilot_metered_report_without_net_amount_fails_whole_naming_it():
    with pytest.raises(ParseError, match="'net_amount'"):
        copilot_metered.parse(b"date,product,sku,quantity\n2026-06-03,copilot,x,1\n")


def test_copilot_premium_report_for_a_user_and_day_gives_dollars_per_sku_and_model():
    parsed = copilot_premium.parse(data("copilot_premium_usage.json"))
    assert parsed.rejections == []
    assert list(parsed.frame["model"]) == ["Copilot AI Credits", "claude-sonnet-4.5"]
    assert [Decimal(c) for c in parsed.frame["cost_usd"]] == [Decimal("14.41"), Decimal(0)]
    assert set(parsed.frame["bucket_width"]) == {"1d"}
    assert set(parsed.frame["identity_value"]) == {"dennisp0"}


def test_copilot_premium_report_for_a_month_of_an_organization_is_one_month_wide_and_unmapped():
    doc = json.loads(data("copilot_premium_usage.json"))
    doc.update(timePeriod={"year": 2026, "month": 10}, user=None)
    parsed = copilot_premium.parse(as_bytes(doc))
    assert set(parsed.frame["bucket_start"]) == {"2026-10-01T00:00:00Z"}
    assert set(parsed.frame["bucket_width"]) == {"1mo"}
    assert set(zip(parsed.frame["identity_kind"], parsed.frame["identity_value"], strict=True)) == {
        ("github_org", "acme")
    }


def test_bad_copilot_premium_items_are_rejected_with_their_index():
    doc = json.loads(data("copilot_premium_usage.json"))
    doc["usageItems"][1]["netAmount"] = -4
    parsed = copilot_premium.parse(as_bytes(doc))
    assert [(r.location, r.reason) for r in parsed.rejections] == [("usageItems[1]", "netAmount is negative: -4")]


# Claude Code local logs.

SESSION = "projects/-home-dev-proj0/20011a5a9b01a2e371f57c701c367532.jsonl"


def cc_line(message_id="msg_1", request_id="req_1", output=10, timestamp="2026-10-07T10:45:00.000Z", **fields) -> dict:
    usage = {
        "input_tokens": 8,
        "cache_creation_input_tokens": 300,
        "cache_read_input_tokens": 1000,
        "output_tokens": output,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
    }
    usage = {k: v for k, v in {**usage, **fields.pop("usage", {})}.items() if v is not ...}
    line = {
        "isSidechain": False,
        "sessionId": "s1",
        "type": "assistant",
        "timestamp": timestamp,
        "requestId": request_id,
        "message": {"id": message_id, "model": fields.pop("model", "claude-sonnet-4-5-20250929"), "usage": usage},
    }
    return {**line, **fields}


def test_claude_code_sample_zip_dedupes_streamed_records_drops_the_sidechain_replay_and_ignores_stray_files():
    parsed = claude_code_logs.parse(data("claude_code_logs.zip"))
    assert parsed.rejections == []
    frame = parsed.frame.set_index("model")
    assert len(frame) == 3  # two main-thread messages and the sidechain's own message
    assert frame.loc["claude-opus-4-1-20250805", "output_tokens"] == 1671  # the fuller of two records
    assert frame.loc["claude-haiku-4-5-20251001", "cache_read_tokens"] == 4000
    assert set(parsed.frame["location"].str.split(":").str[0]) <= {
        SESSION,
        SESSION.removesuffix(".jsonl") + "/subagents/agent-20011a.jsonl",
    }


def test_claude_code_rows_have_no_identity_and_are_claude_code_by_anthropic_per_event():
    row = claude_code_logs.parse(data("claude_code_logs.zip")).frame.iloc[0]
    assert (row["identity_kind"], row["identity_value"]) == ("", "")
    assert (row["vendor"], row["product"], row["bucket_width"], row["cost_usd"]) == (
        "anthropic",
        "claude_code",
        "event",
        None,
    )


def test_claude_code_cache_writes_keep_the_5m_and_1h_split():
    row = only_row(claude_code_logs.parse(ndjson(cc_line())))
    assert (row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]) == (100, 200)
    assert (row["input_uncached_tokens"], row["cache_read_tokens"]) == (8, 1000)


def test_claude_code_without_the_split_counts_cache_creation_as_5m_writes():
    row = only_row(claude_code_logs.parse(ndjson(cc_line(usage={"cache_creation": ...}))))
    assert (row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]) == (300, 0)


def test_claude_code_keeps_the_record_with_most_tokens_dated_by_the_first():
    raw = ndjson(cc_line(output=5), cc_line(output=50, timestamp="2026-10-07T10:45:09.500Z"), cc_line(output=20))
    row = only_row(claude_code_logs.parse(raw))
    assert (row["output_tokens"], row["bucket_start"]) == (50, "2026-10-07T10:45:00Z")


def test_claude_code_a_fuller_copy_of_a_log_replaces_rows_instead_of_adding_them():
    early = claude_code_logs.parse(ndjson(cc_line(output=5))).frame
    later = claude_code_logs.parse(ndjson(cc_line(output=5), cc_line(output=50), cc_line("msg_2", "req_2"))).frame
    assert early.iloc[0]["dedup_key"] in set(later["dedup_key"])
    assert early.iloc[0]["bucket_start"] == later.set_index("dedup_key").loc[early.iloc[0]["dedup_key"], "bucket_start"]


def test_claude_code_same_message_with_another_request_id_is_another_row_unless_it_is_a_sidechain_replay():
    two = claude_code_logs.parse(ndjson(cc_line(), cc_line(request_id="req_2")))
    assert len(two.frame) == 2
    replay = claude_code_logs.parse(ndjson(cc_line(), cc_line(request_id="req_side", isSidechain=True, output=99)))
    assert list(replay.frame["output_tokens"]) == [10]
    own = claude_code_logs.parse(ndjson(cc_line(), cc_line("msg_side", "req_side", isSidechain=True)))
    assert len(own.frame) == 2


def test_claude_code_a_prompt_over_200k_tokens_is_long_context():
    row = only_row(claude_code_logs.parse(ndjson(cc_line(usage={"cache_read_input_tokens": 250_000}))))
    assert bool(row["long_context"]) is True


def test_claude_code_user_lines_and_synthetic_messages_are_not_usage():
    user = {"type": "user", "sessionId": "s1", "message": {"role": "user", "content": "hi"}}
    parsed = claude_code_logs.parse(ndjson(user, cc_line(model="<synthetic>"), cc_line("msg_2", "req_2")))
    assert len(parsed.frame) == 1
    assert parsed.rejections == []


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (cc_line("msg_2", "req_2", usage={"input_tokens": -3}), "usage.input_tokens is negative"),
        (cc_line("msg_2", "req_2", usage={"output_tokens": "ten"}), "usage.output_tokens is not a whole number"),
        (cc_line("msg_2", "req_2", timestamp="not a time"), "timestamp is not an ISO-8601 time"),
    ],
)
def test_bad_claude_code_lines_are_rejected_naming_the_member_and_line(line, reason):
    raw = zipped({SESSION: ndjson(cc_line(), line)})
    parsed = claude_code_logs.parse(raw)
    assert len(parsed.frame) == 1
    assert [r.location for r in parsed.rejections] == [f"{SESSION}:line 2"]
    assert reason in parsed.rejections[0].reason


def test_a_broken_line_in_a_live_claude_code_log_is_rejected_not_fatal():
    parsed = claude_code_logs.parse(zipped({SESSION: ndjson(cc_line()) + b'{"type": "assist'}))
    assert len(parsed.frame) == 1
    assert [r.location for r in parsed.rejections] == [f"{SESSION}:line 2"]


def test_a_claude_code_line_holding_a_unicode_line_separator_is_one_line():
    line = cc_line()
    line["message"]["content"] = [{"type": "text", "text": "one\u2028two\x85three"}]
    raw = (json.dumps(line, ensure_ascii=False) + "\n").encode() + ndjson(cc_line("msg_2", "req_2"))
    parsed = claude_code_logs.parse(zipped({SESSION: raw}))
    assert parsed.rejections == []
    assert len(parsed.frame) == 2


def test_a_bare_claude_code_jsonl_log_is_detected_and_read():
    raw = ndjson({"type": "summary", "summary": "x", "leafUuid": "u"}, cc_line(), cc_line("msg_2", "req_2"))
    assert registry.detect_format(raw) == "claude_code_logs"
    assert list(registry.parse(raw).frame["location"]) == ["line 2", "line 3"]


# Codex CLI local logs.


def codex_event(last: dict | None, total: dict | None, timestamp="2026-10-29T09:01:00.000Z", **info) -> dict:
    return {
        "timestamp": timestamp,
        "type": "event_msg",
        "payload": {"type": "token_count", "info": {"last_token_usage": last, "total_token_usage": total, **info}},
    }


def usage(input_tokens, cached, output, reasoning=0) -> dict:
    return {
        "input_tokens": input_tokens,
        "cached_input_tokens": cached,
        "output_tokens": output,
        "reasoning_output_tokens": reasoning,
        "total_tokens": input_tokens + output,
    }


def codex_session(*events: dict, model: str | None = "gpt-5") -> bytes:
    head = [{"timestamp": "2026-10-29T09:00:00.000Z", "type": "session_meta", "payload": {"id": "s01"}}]
    if model:
        head.append({"timestamp": "2026-10-29T09:00:01.000Z", "type": "turn_context", "payload": {"model": model}})
    return ndjson(*head, *events)


def test_codex_input_includes_cached_and_output_includes_reasoning():
    row = only_row(codex_logs.parse(codex_session(codex_event(usage(1000, 250, 125, 75), usage(1000, 250, 125, 75)))))
    assert (row["input_uncached_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (750, 250, 125)
    assert (row["vendor"], row["product"], row["model"], row["identity_kind"]) == ("openai", "codex", "gpt-5", "")


def test_codex_counts_each_turn_never_the_running_total():
    first, second = usage(1000, 250, 125), usage(500, 100, 50)
    events = [
        codex_event(first, usage(1000, 250, 125)),
        codex_event(second, usage(1500, 350, 175), timestamp="2026-10-29T09:02:00.000Z"),
    ]
    frame = codex_logs.parse(codex_session(*events)).frame
    assert int(frame[list(TOKEN_COLUMNS)].sum().sum()) == 1500 + 175


def test_codex_a_repeated_token_count_event_adds_nothing():
    event = codex_event(usage(1000, 250, 125), usage(1000, 250, 125))
    assert len(codex_logs.parse(codex_session(event, event)).frame) == 1


def test_codex_events_with_only_totals_count_the_difference():
    events = [
        codex_event(None, usage(1000, 250, 125)),
        codex_event(None, usage(1600, 450, 175), timestamp="2026-10-29T09:02:00.000Z"),
    ]
    frame = codex_logs.parse(codex_session(*events)).frame
    assert list(frame["input_uncached_tokens"]) == [750, 400]
    assert list(frame["output_tokens"]) == [125, 50]


def test_codex_event_before_any_model_is_kept_without_one_to_be_flagged_unpriced():
    row = only_row(codex_logs.parse(codex_session(codex_event(usage(10, 0, 1), None), model=None)))
    assert row["model"] == ""


def test_codex_session_in_both_sessions_and_archived_sessions_is_read_once():
    session = codex_session(codex_event(usage(10, 0, 1), usage(10, 0, 1)))
    raw = zipped(
        {"sessions/2026/10/29/rollout-a.jsonl": session, "archived_sessions/2026/10/29/rollout-a.jsonl": session}
    )
    assert len(codex_logs.parse(raw).frame) == 1


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (codex_event(usage(10, 20, 1), None), "cached_input_tokens is larger than input_tokens"),
        (codex_event(usage(-10, 0, 1), None), "last_token_usage.input_tokens is negative"),
        (codex_event(None, None), "without last_token_usage or total_token_usage"),
    ],
)
def test_bad_codex_events_are_rejected_naming_the_member_and_line(event, reason):
    raw = zipped({"sessions/2026/10/29/rollout-a.jsonl": codex_session(event)})
    parsed = codex_logs.parse(raw)
    assert [r.location for r in parsed.rejections] == ["sessions/2026/10/29/rollout-a.jsonl:line 3"]
    assert reason in parsed.rejections[0].reason


def test_codex_sample_turns_add_up_to_each_sessions_final_total():
    frame = codex_logs.parse(data("codex_logs.zip")).frame
    assert int(frame[list(TOKEN_COLUMNS)].sum().sum()) == 266151 + 21965  # the last total_token_usage


# LiteLLM spend logs.


def litellm_row(**fields) -> dict:
    row = {
        "request_id": "chatcmpl-1",
        "call_type": "acompletion",
        "api_key": "88dc28",
        "spend": 0.004215,
        "total_tokens": 1830,
        "prompt_tokens": 1610,
        "completion_tokens": 220,
        "startTime": "2026-08-01T10:00:00Z",
        "model": "claude-sonnet-4-6",
        "custom_llm_provider": "anthropic",
        "user": "u_42",
        "team_id": "team-platform",
        "metadata": {
            "user_api_key_user_email": "Alice@Corp.com",
            "additional_usage_values": {"cache_read_input_tokens": 1200, "cache_creation_input_tokens": 0},
        },
    }
    return {k: v for k, v in {**row, **fields}.items() if v is not ...}


def test_litellm_spend_is_float_dollars_kept_as_its_printed_digits():
    row = only_row(litellm_spend.parse(as_bytes([litellm_row(spend=0.1 + 0.2)])))
    assert row["cost_usd"] == "0.30000000000000004"
    assert only_row(litellm_spend.parse(as_bytes([litellm_row()])))["cost_usd"] == "0.004215"


def test_litellm_prompt_tokens_include_cache_reads_and_writes():
    meta = {
        "user_api_key_user_email": "a@b.co",
        "additional_usage_values": {"cache_read_input_tokens": 1200, "cache_creation_input_tokens": 10},
    }
    row = only_row(litellm_spend.parse(as_bytes([litellm_row(metadata=meta)])))
    assert (row["input_uncached_tokens"], row["cache_read_tokens"], row["cache_write_5m_tokens"]) == (400, 1200, 10)
    assert (row["vendor"], row["product"], row["account"]) == ("litellm", "gateway", "team-platform")


@pytest.mark.parametrize(
    ("fields", "identity"),
    [
        ({}, ("email", "alice@corp.com")),
        ({"metadata": {}}, ("litellm_user", "u_42")),
        ({"metadata": {}, "user": None}, ("litellm_team", "team-platform")),
        ({"metadata": {}, "user": None, "team_id": None}, ("litellm_api_key", "88dc28")),
    ],
)
def test_litellm_identity_is_the_key_owners_email_else_user_else_team_else_key(fields, identity):
    row = only_row(litellm_spend.parse(as_bytes([litellm_row(**fields)])))
    assert (row["identity_kind"], row["identity_value"]) == identity


def test_litellm_rows_without_spend_are_priced_from_tokens():
    assert only_row(litellm_spend.parse(as_bytes({"data": [litellm_row(spend=None)]})))["cost_usd"] is None


def test_litellm_csv_export_reads_metadata_from_a_json_cell_and_naive_times_as_utc():
    parsed = litellm_spend.parse(data("litellm_spend_logs.csv"))
    assert parsed.rejections == []
    first = parsed.frame.iloc[0]
    assert (first["identity_value"], first["cache_read_tokens"], first["bucket_start"]) == (
        "alice@corp.com",
        1200,
        "2026-10-02T10:00:00Z",
    )
    assert list(parsed.frame["cost_usd"]) == ["0.004215", "0.0125", None]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"spend": -0.5}, "spend is negative"),
        ({"spend": "free"}, "spend is not a number"),
        ({"prompt_tokens": -1}, "prompt_tokens is negative"),
        ({"completion_tokens": 1.5}, "completion_tokens is not a whole number"),
        ({"request_id": ""}, "request_id is missing"),
        ({"startTime": "sometime"}, "startTime is not an ISO-8601 time"),
        ({"metadata": "{not json"}, "metadata is not valid JSON"),
    ],
)
def test_bad_litellm_rows_are_rejected_with_their_index(fields, reason):
    parsed = litellm_spend.parse(as_bytes([litellm_row(request_id="ok"), litellm_row(**fields)]))
    assert [r.location for r in parsed.rejections] == ["[1]"]
    assert reason in parsed.rejections[0].reason


def test_a_truncated_litellm_export_fails_whole_saying_truncated():
    with pytest.raises(ParseError, match="truncated"):
        registry.parse(data("litellm_spend_logs.json")[:500])


# AWS Bedrock invocation logs.


def bedrock_record(**fields) -> dict:
    record = json.loads(data("bedrock_invocations.jsonl").splitlines()[0])
    return {**record, **fields}


def test_bedrock_cache_reads_and_writes_are_separate_from_input_with_the_1h_split_from_the_body():
    row = bedrock_invocations.parse(data("bedrock_invocations.jsonl")).frame.iloc[0]
    assert (row["input_uncached_tokens"], row["cache_read_tokens"]) == (1500, 20000)
    assert (row["cache_write_5m_tokens"], row["cache_write_1h_tokens"], row["output_tokens"]) == (1000, 2000, 500)
    assert (row["vendor"], row["account"], row["cost_usd"]) == ("bedrock", "123456789012", None)


def test_bedrock_identity_is_the_email_of_an_sso_session_else_the_iam_arn():
    frame = bedrock_invocations.parse(data("bedrock_invocations.jsonl")).frame
    assert list(zip(frame["identity_kind"], frame["identity_value"], strict=True)) == [
        ("email", "alice@corp.com"),
        ("iam_arn", "arn:aws:iam::123456789012:user/ci-bot"),
        ("email", "bob@corp.com"),
    ]


def test_bedrock_a_prompt_over_200k_tokens_is_long_context():
    frame = bedrock_invocations.parse(data("bedrock_invocations.jsonl")).frame
    assert list(frame["long_context"]) == [False, False, True]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"input": {"inputTokenCount": -1}}, "input.inputTokenCount is negative"),
        ({"output": {"outputTokenCount": "lots"}}, "output.outputTokenCount is not a whole number"),
        ({"requestId": None}, "requestId or modelId is missing"),
        ({"identity": {}}, "identity.arn is missing"),
    ],
)
def test_bad_bedrock_records_are_rejected_with_their_line(fields, reason):
    parsed = bedrock_invocations.parse(ndjson(bedrock_record(), bedrock_record(**fields)))
    assert [r.location for r in parsed.rejections] == ["line 2"]
    assert reason in parsed.rejections[0].reason


def test_bedrock_records_in_a_json_array_are_read_too():
    parsed = registry.parse(as_bytes([bedrock_record(), bedrock_record(requestId="other")]))
    assert parsed.format == "bedrock_invocations"
    assert list(parsed.frame["location"]) == ["[0]", "[1]"]


def test_a_truncated_bedrock_log_fails_whole_saying_truncated():
    raw = data("bedrock_invocations.jsonl")
    with pytest.raises(ParseError, match="truncated"):
        bedrock_invocations.parse(raw[:-30])


# Google Cloud billing export.


def gcp_row(**fields) -> dict:
    row = json.loads(data("gcp_billing_export.jsonl").splitlines()[0])
    return {**row, **fields}


def test_gcp_cost_is_dollars_with_credits_taken_off():
    frame = gcp_billing.parse(data("gcp_billing_export.jsonl")).frame
    assert list(frame["cost_usd"]) == ["1.25", "4.5", "0.8"]


def test_gcp_cost_in_another_currency_is_converted_with_the_rate():
    row = only_row(gcp_billing.parse(ndjson(gcp_row(cost=150, currency="JPY", currency_conversion_rate=150))))
    assert Decimal(row["cost_usd"]) == Decimal(1)


def test_gcp_rows_of_other_services_and_tax_rows_are_reported_not_read():
    parsed = gcp_billing.parse(
        ndjson(gcp_row(), gcp_row(cost_type="tax"), gcp_row(service={"id": "x", "description": "BigQuery"}))
    )
    assert len(parsed.frame) == 1
    assert sorted(r.location for r in parsed.rejections) == ["line 2", "line 3"]


def test_gcp_identity_is_a_user_label_else_the_project():
    frame = gcp_billing.parse(data("gcp_billing_export.jsonl")).frame
    assert list(zip(frame["identity_kind"], frame["identity_value"], strict=True)) == [
        ("gcp_label_user", "alice_corp_com"),
        ("gcp_label_user", "alice_corp_com"),
        ("gcp_project", "shared-genai"),
    ]


def test_gcp_token_skus_give_token_counts_by_direction():
    frame = gcp_billing.parse(data("gcp_billing_export.jsonl")).frame
    assert list(frame["input_uncached_tokens"]) == [1_000_000, 0, 0]
    assert list(frame["output_tokens"]) == [0, 500_000, 320_000]
    assert list(frame["product"]) == ["vertex_ai", "vertex_ai", "gemini_api"]


def test_gcp_a_later_export_of_the_same_hour_is_another_row_and_the_same_row_again_is_not():
    later = gcp_row(export_time="2026-10-07T19:00:00Z")
    frame = gcp_billing.parse(ndjson(gcp_row(), later)).frame
    assert frame["dedup_key"].nunique() == 2
    assert gcp_billing.parse(ndjson(gcp_row())).frame.iloc[0]["dedup_key"] == frame.iloc[0]["dedup_key"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"cost": "n/a"}, "cost is not a number"),
        ({"credits": [{"amount": -9}]}, "net cost is negative"),
        ({"currency": "EUR", "currency_conversion_rate": None}, "no currency_conversion_rate"),
        ({"usage": {"amount": -5, "unit": "count"}}, "usage.amount is not a whole token count"),
        ({"usage_start_time": "noon"}, "usage_start_time is not an ISO-8601 time"),
    ],
)
def test_bad_gcp_rows_are_rejected_with_their_line(fields, reason):
    parsed = gcp_billing.parse(ndjson(gcp_row(), gcp_row(**fields)))
    assert [r.location for r in parsed.rejections] == ["line 2"]
    assert reason in parsed.rejections[0].reason


# The shared samples' shapes, pinned: what the totals above rest on.


def test_the_shared_claude_code_samples_hold_sidechain_replays_that_are_dropped():
    for name in ("claude_code_logs_0.zip", "claude_code_logs_1.zip"):
        archive = zipfile.ZipFile(io.BytesIO(sample(name)))
        sidechain = [n for n in archive.namelist() if "/subagents/" in n]
        assert sidechain and any(n.endswith("notes.txt") for n in archive.namelist())
        parsed = claude_code_logs.parse(sample(name))
        assert not any("/subagents/" in loc for loc in parsed.frame["location"])


def test_copilot_sample_logins_are_all_read():
    frame = copilot_metrics.parse(sample("copilot_users_1_day.ndjson")).frame
    assert Counter(frame["identity_value"]) == {"dennisp0": 24, "sophiet1": 17}
