"""The importers are pure: bytes in, canonical frame and rejections out. No database here."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from usage.importers import (
    anthropic_cost,
    anthropic_usage,
    claude_code_analytics,
    generic_csv,
    openai_costs,
    openai_usage,
    registry,
)
from usage.importers.base import BILLING_COLUMNS, USAGE_COLUMNS, ParseError

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "company-small"
DATA = Path(__file__).resolve().parents[1] / "data"


def sample(name: str) -> bytes:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"the shared samples are not beside the checkout ({SAMPLES})")
    return path.read_bytes()


def as_bytes(doc: object) -> bytes:
    return json.dumps(doc).encode()


def anthropic_usage_doc(**fields) -> bytes:
    result = {
        "uncached_input_tokens": 100,
        "cache_creation": {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 30},
        "cache_read_input_tokens": 400,
        "output_tokens": 50,
        "api_key_id": "apikey_1",
        "workspace_id": "wrkspc_1",
        "model": "claude-sonnet-4-5",
        "context_window": "0-200k",
    }
    bucket = {"starting_at": "2026-10-01T00:00:00Z", "ending_at": "2026-10-02T00:00:00Z"}
    return as_bytes({"data": [{**bucket, "results": [{**result, **fields}]}], "has_more": False})


def anthropic_cost_doc(*results: dict) -> bytes:
    base = {"amount": "123.45", "currency": "USD", "cost_type": "tokens", "description": None, "workspace_id": None}
    bucket = {"starting_at": "2026-10-01T00:00:00Z", "ending_at": "2026-10-02T00:00:00Z"}
    return as_bytes({"data": [{**bucket, "results": [{**base, **r} for r in results or [{}]]}]})


def claude_code_doc(*records: dict, **entry_fields) -> bytes:
    entry = {
        "model": "claude-sonnet-4-5",
        "tokens": {"input": 1000, "output": 200, "cache_read": 50000, "cache_creation": 3000},
        "estimated_cost": {"amount": 186, "currency": "USD"},
        **entry_fields,
    }
    base = {
        "date": "2026-10-01T00:00:00Z",
        "actor": {"type": "user_actor", "email_address": "Ada.Lovelace@Example.Com"},
        "organization_id": "org-1",
        "terminal_type": "vscode",
        "model_breakdown": [entry],
    }
    return as_bytes({"data": [{**base, **r} for r in records or [{}]], "has_more": False})


def openai_usage_doc(**fields) -> bytes:
    result = {
        "object": "organization.usage.completions.result",
        "input_tokens": 5000,
        "input_cached_tokens": 1800,
        "output_tokens": 1000,
        "num_model_requests": 5,
        "project_id": "proj_1",
        "user_id": "user-1",
        "api_key_id": "key_1",
        "model": "gpt-5",
        "batch": False,
        "service_tier": "default",
    }
    bucket = {"object": "bucket", "start_time": 1790812800, "end_time": 1790899200}
    result = {k: v for k, v in {**result, **fields}.items() if v is not ...}
    return as_bytes({"object": "page", "data": [{**bucket, "results": [result]}], "has_more": False})


def openai_costs_doc(**fields) -> bytes:
    result = {
        "object": "organization.costs.result",
        "amount": {"value": 0.06, "currency": "usd"},
        "line_item": None,
        "project_id": "proj_1",
        "api_key_id": None,
        **fields,
    }
    bucket = {"object": "bucket", "start_time": 1790812800, "end_time": 1790899200}
    return as_bytes({"object": "page", "data": [{**bucket, "results": [result]}], "has_more": False})


GENERIC_HEADER = "day,vendor,product,model,email,input_uncached_tokens,output_tokens"


def generic_doc(*lines: str, header: str = GENERIC_HEADER) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


# Detection of the reference samples.


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("anthropic_usage_report_p1.json", "anthropic_usage"),
        ("anthropic_cost_report.json", "anthropic_cost"),
        ("claude_code_analytics.json", "claude_code_analytics"),
        ("openai_usage_completions.json", "openai_usage"),
        ("openai_costs.json", "openai_costs"),
    ],
)
def test_each_sample_file_is_detected_as_its_format(name, expected):
    assert registry.detect_format(sample(name)) == expected


@pytest.mark.parametrize(
    "name",
    [
        "anthropic_usage_report_p1.json",
        "anthropic_usage_report_p2.json",
        "anthropic_cost_report.json",
        "claude_code_analytics.json",
        "openai_usage_completions.json",
        "openai_costs.json",
    ],
)
def test_every_sample_file_parses_without_rejections(name):
    parsed = registry.parse(sample(name))
    assert len(parsed.frame) > 0
    assert parsed.rejections == []
    expected = USAGE_COLUMNS if parsed.role == "attribution" else BILLING_COLUMNS
    assert tuple(parsed.frame.columns) == expected
    assert not parsed.frame["dedup_key"].duplicated().any()


def test_generic_csv_sample_is_detected_as_generic_csv():
    assert registry.detect_format((DATA / "generic_usage.csv").read_bytes()) == "generic_csv"


def test_truncated_usage_report_raises_a_parse_error_that_says_truncated():
    with pytest.raises(ParseError, match="truncated"):
        registry.parse(sample("broken_usage_report.json"))


@pytest.mark.parametrize("module", [anthropic_usage, anthropic_cost, claude_code_analytics, openai_usage, openai_costs])
def test_latin1_json_raises_a_parse_error_asking_for_utf8(module):
    raw = '{"data": [{"note": "Café"}]}'.encode("latin-1")
    with pytest.raises(ParseError, match="not UTF-8"):
        module.parse(raw)


def test_latin1_csv_raises_a_parse_error_asking_for_utf8():
    raw = generic_doc("2026-10-01,cursor,cursor,gpt-5,rené@example.com,1,1").decode().encode("latin-1")
    assert registry.detect_format(raw) == "generic_csv"
    with pytest.raises(ParseError, match="not UTF-8"):
        generic_csv.parse(raw)


@pytest.mark.parametrize("module", [anthropic_usage, anthropic_cost, claude_code_analytics, openai_usage, openai_costs])
def test_empty_data_gives_no_rows_and_no_rejections(module):
    parsed = module.parse(as_bytes({"data": [], "has_more": False}))
    assert len(parsed.frame) == 0
    assert parsed.rejections == []


def test_an_export_with_no_rows_is_not_guessed_as_any_format():
    with pytest.raises(ParseError, match="holds no rows"):
        registry.detect_format(as_bytes({"data": [], "has_more": False}))


def test_an_empty_file_raises_a_parse_error():
    with pytest.raises(ParseError, match="empty"):
        openai_usage.parse(b"  \n")
    with pytest.raises(ParseError, match="empty"):
        generic_csv.parse(b"")


def test_a_document_without_a_data_list_raises_a_parse_error():
    with pytest.raises(ParseError, match='"data" list'):
        openai_costs.parse(as_bytes({"object": "page"}))


# Anthropic usage report.


def test_anthropic_usage_long_context_flag_comes_from_context_window():
    short = anthropic_usage.parse(anthropic_usage_doc()).frame.iloc[0]
    long = anthropic_usage.parse(anthropic_usage_doc(context_window="200k-1M")).frame.iloc[0]
    assert not short["long_context"]
    assert long["long_context"]
    assert short["dedup_key"] != long["dedup_key"]


def test_anthropic_usage_cache_writes_keep_the_5m_and_1h_split():
    row = anthropic_usage.parse(anthropic_usage_doc()).frame.iloc[0]
    assert (row["input_uncached_tokens"], row["cache_read_tokens"]) == (100, 400)
    assert (row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]) == (20, 30)


def test_anthropic_usage_negative_token_count_is_rejected_with_the_field_name():
    parsed = anthropic_usage.parse(anthropic_usage_doc(output_tokens=-5))
    assert len(parsed.frame) == 0
    assert parsed.rejections[0].location == "data[0].results[0]"
    assert "output_tokens is negative" in parsed.rejections[0].reason


# Anthropic cost report.


def test_anthropic_cost_amount_is_a_decimal_string_in_cents():
    row = anthropic_cost.parse(anthropic_cost_doc({"amount": "123.45"})).frame.iloc[0]
    assert row["cost_usd"] == "1.2345"
    assert row["day"] == "2026-10-01"
    assert row["account"] == ""  # null workspace_id is the default workspace


def test_anthropic_cost_keeps_fractional_cents_exactly():
    row = anthropic_cost.parse(anthropic_cost_doc({"amount": "291.9015"})).frame.iloc[0]
    assert Decimal(row["cost_usd"]) == Decimal("2.919015")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"amount": "12,50"}, "amount is not a number"),
        ({"amount": "-3.00"}, "amount is negative"),
        ({"amount": None}, "amount is missing"),
        ({"currency": "EUR"}, "only USD"),
    ],
)
def test_anthropic_cost_rejects_unreadable_amounts_and_other_currencies(fields, reason):
    parsed = anthropic_cost.parse(anthropic_cost_doc(fields, {"workspace_id": "wrkspc_2"}))
    assert len(parsed.frame) == 1
    assert reason in parsed.rejections[0].reason
    assert parsed.rejections[0].location == "data[0].results[0]"


def test_anthropic_cost_rows_differing_by_description_have_different_keys():
    frame = anthropic_cost.parse(
        anthropic_cost_doc({"description": "Claude Sonnet 4 Usage - Input Tokens"}, {"description": "Web search"})
    ).frame
    assert frame["dedup_key"].nunique() == 2


# Claude Code analytics.


def test_claude_code_estimated_cost_is_a_number_in_cents():
    row = claude_code_analytics.parse(claude_code_doc()).frame.iloc[0]
    assert row["cost_usd"] == "1.86"


def test_claude_code_emails_are_lower_cased():
    frame = claude_code_analytics.parse(claude_code_doc()).frame
    assert list(frame["identity_value"]) == ["ada.lovelace@example.com"]
    assert list(frame["identity_kind"]) == ["email"]


def test_claude_code_sample_has_mixed_case_emails_that_come_out_lower_case():
    raw = sample("claude_code_analytics.json")
    assert "Dennis.Perlman@Example.Com" in raw.decode()
    frame = claude_code_analytics.parse(raw).frame
    assert (frame["identity_value"] == frame["identity_value"].str.lower()).all()
    assert frame["identity_value"].nunique() == 3


def test_claude_code_cache_creation_counts_as_5m_cache_write():
    row = claude_code_analytics.parse(claude_code_doc()).frame.iloc[0]
    assert (row["input_uncached_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (1000, 50000, 200)
    assert (row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]) == (3000, 0)


def test_claude_code_gives_one_row_per_model_in_a_record():
    record = {
        "model_breakdown": [
            {"model": "claude-sonnet-4-5", "tokens": {"input": 1}, "estimated_cost": {"amount": 1, "currency": "USD"}},
            {"model": "claude-haiku-4-5", "tokens": {"input": 2}, "estimated_cost": {"amount": 2, "currency": "USD"}},
        ]
    }
    frame = claude_code_analytics.parse(claude_code_doc(record)).frame
    assert list(frame["model"]) == ["claude-sonnet-4-5", "claude-haiku-4-5"]
    assert list(frame["location"]) == ["data[0].model_breakdown[0]", "data[0].model_breakdown[1]"]
    assert set(frame["bucket_start"]) == {"2026-10-01T00:00:00Z"}
    assert set(frame["product"]) == {"claude_code"}


def test_claude_code_api_actor_is_identified_by_key_name():
    row = claude_code_analytics.parse(
        claude_code_doc({"actor": {"type": "api_actor", "api_key_name": "ci-bot"}})
    ).frame.iloc[0]
    assert (row["identity_kind"], row["identity_value"]) == ("api_key_name", "ci-bot")


def test_claude_code_terminal_type_is_not_part_of_the_natural_key():
    # One record per actor per day: a re-fetch that names another terminal restates the same row.
    lower_case_actor = {"type": "user_actor", "email_address": "ada.lovelace@example.com"}
    raw = claude_code_doc({"terminal_type": "vscode"}, {"terminal_type": "tmux", "actor": lower_case_actor})
    frame = claude_code_analytics.parse(raw).frame
    assert frame["dedup_key"].nunique() == 1


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"actor": {"type": "user_actor", "email_address": None}}, "email_address is empty"),
        ({"actor": {"type": "robot"}}, "actor.type is 'robot'"),
        ({"date": "01/10/2026"}, "date is not an RFC 3339 time"),
        ({"date": "2026-10-01T05:00:00Z"}, "not a UTC midnight"),
        ({"model_breakdown": None}, "model_breakdown"),
    ],
)
def test_claude_code_unreadable_records_are_rejected_whole(record, reason):
    parsed = claude_code_analytics.parse(claude_code_doc(record))
    assert len(parsed.frame) == 0
    assert parsed.rejections[0].location == "data[0]"
    assert reason in parsed.rejections[0].reason


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"tokens": {"input": -1}}, "tokens.input is negative"),
        ({"tokens": {"output": "lots"}}, "tokens.output is not a whole number"),
        ({"estimated_cost": {"amount": -4, "currency": "USD"}}, "estimated_cost.amount is negative"),
        ({"estimated_cost": {"amount": 4, "currency": "EUR"}}, "only USD"),
    ],
)
def test_claude_code_bad_model_entries_are_rejected_with_the_field_name(entry, reason):
    parsed = claude_code_analytics.parse(claude_code_doc(**entry))
    assert len(parsed.frame) == 0
    assert parsed.rejections[0].location == "data[0].model_breakdown[0]"
    assert reason in parsed.rejections[0].reason


# OpenAI usage.


def test_openai_input_tokens_include_cached_tokens():
    row = openai_usage.parse(openai_usage_doc(input_tokens=5000, input_cached_tokens=1800)).frame.iloc[0]
    assert row["input_uncached_tokens"] == 3200
    assert row["cache_read_tokens"] == 1800
    assert row["cache_write_5m_tokens"] == 0
    assert row["output_tokens"] == 1000


def test_openai_cache_write_tokens_are_also_taken_out_of_input():
    row = openai_usage.parse(
        openai_usage_doc(input_cached_tokens=1800, input_cache_write_tokens=200, input_uncached_tokens=3000)
    ).frame.iloc[0]
    assert (row["input_uncached_tokens"], row["cache_read_tokens"]) == (3000, 1800)
    assert (row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]) == (200, 0)


def test_openai_inconsistent_input_uncached_tokens_is_rejected():
    parsed = openai_usage.parse(openai_usage_doc(input_uncached_tokens=5000))
    assert len(parsed.frame) == 0
    assert "input_uncached_tokens (5000) disagrees" in parsed.rejections[0].reason


def test_openai_row_with_more_cached_than_input_tokens_is_rejected():
    parsed = openai_usage.parse(openai_usage_doc(input_tokens=100, input_cached_tokens=150))
    assert len(parsed.frame) == 0
    assert "input_cached_tokens (150) is more than input_tokens (100)" in parsed.rejections[0].reason


def test_openai_bucket_start_is_utc_iso_from_unix_seconds():
    row = openai_usage.parse(openai_usage_doc()).frame.iloc[0]
    assert row["bucket_start"] == "2026-10-01T00:00:00Z"
    assert row["bucket_width"] == "1d"
    assert (row["requests"], row["account"], row["vendor"], row["product"]) == (5, "proj_1", "openai", "api")


@pytest.mark.parametrize(
    ("fields", "identity"),
    [
        ({}, ("user_id", "user-1")),
        ({"user_id": None}, ("api_key_id", "key_1")),
        ({"user_id": None, "api_key_id": None}, ("project_id", "proj_1")),
    ],
)
def test_openai_identity_prefers_user_then_api_key_then_project(fields, identity):
    row = openai_usage.parse(openai_usage_doc(**fields)).frame.iloc[0]
    assert (row["identity_kind"], row["identity_value"]) == identity


def test_openai_batch_and_standard_rows_of_one_bucket_have_different_keys():
    standard = openai_usage.parse(openai_usage_doc()).frame.iloc[0]
    batch = openai_usage.parse(openai_usage_doc(batch=True)).frame.iloc[0]
    assert standard["dedup_key"] != batch["dedup_key"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"output_tokens": -1}, "output_tokens is negative"),
        ({"input_cached_tokens": "many"}, "input_cached_tokens is not a whole number"),
        ({"input_tokens": ...}, "input_tokens is missing"),
        ({"model": None}, "model is missing"),
    ],
)
def test_openai_bad_token_counts_are_rejected_with_the_field_name(fields, reason):
    parsed = openai_usage.parse(openai_usage_doc(**fields))
    assert len(parsed.frame) == 0
    assert reason in parsed.rejections[0].reason
    assert parsed.rejections[0].location == "data[0].results[0]"


# OpenAI costs.


def test_openai_costs_amount_is_dollars():
    row = openai_costs.parse(openai_costs_doc(amount={"value": 6.556974, "currency": "usd"})).frame.iloc[0]
    assert row["cost_usd"] == "6.556974"
    assert (row["day"], row["account"], row["vendor"]) == ("2026-10-01", "proj_1", "openai")


def test_openai_costs_line_item_is_the_description():
    row = openai_costs.parse(openai_costs_doc(line_item="gpt-5, input")).frame.iloc[0]
    assert row["description"] == "gpt-5, input"


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        ({"value": 1.5, "currency": "eur"}, "only usd"),
        ({"value": -1.5, "currency": "usd"}, "amount.value is negative"),
        ({"value": "abc", "currency": "usd"}, "amount.value is not a number"),
    ],
)
def test_openai_costs_rejects_other_currencies_and_bad_values(amount, reason):
    parsed = openai_costs.parse(openai_costs_doc(amount=amount))
    assert len(parsed.frame) == 0
    assert reason in parsed.rejections[0].reason


def test_money_is_never_rounded_through_binary_floats():
    # 0.1 + 0.2 style values: the text in the file is what we keep.
    row = openai_costs.parse(openai_costs_doc(amount={"value": 0.1, "currency": "usd"})).frame.iloc[0]
    assert row["cost_usd"] == "0.1"
    cents = anthropic_cost.parse(anthropic_cost_doc({"amount": "0.3"})).frame.iloc[0]
    assert cents["cost_usd"] == "0.003"


# Generic CSV.


def test_generic_csv_sample_parses_into_canonical_rows():
    parsed = generic_csv.parse((DATA / "generic_usage.csv").read_bytes())
    assert parsed.rejections == []
    frame = parsed.frame
    assert list(frame["identity_value"]) == ["ada.lovelace@example.com"] * 2 + ["grace.hopper@example.com"]
    assert list(frame["cost_usd"]) == ["0.42", None, "0.000150"]
    assert list(frame["bucket_start"]) == ["2026-10-01T00:00:00Z"] * 2 + ["2026-10-02T00:00:00Z"]
    assert (frame.iloc[2]["vendor"], frame.iloc[2]["product"], frame.iloc[2]["account"]) == ("gateway", "api", "")
    assert frame.iloc[2]["cache_write_1h_tokens"] == 250
    assert frame.iloc[0]["requests"] == 12


def test_generic_csv_timestamp_with_offset_is_converted_to_utc():
    header = "timestamp,vendor,product,model,identity_kind,identity_value,input_uncached_tokens,output_tokens"
    raw = generic_doc("2026-10-01T01:30:00+02:00,gateway,api,gpt-5,api_key_id,key-9,10,5", header=header)
    row = generic_csv.parse(raw).frame.iloc[0]
    assert (row["bucket_start"], row["bucket_width"]) == ("2026-09-30T23:30:00Z", "event")
    assert (row["identity_kind"], row["identity_value"]) == ("api_key_id", "key-9")


def test_generic_csv_missing_optional_token_columns_count_as_zero():
    row = generic_csv.parse(generic_doc("2026-10-01,cursor,cursor,gpt-5,a@example.com,10,5")).frame.iloc[0]
    assert (row["cache_read_tokens"], row["cache_write_5m_tokens"], row["requests"]) == (0, 0, 0)
    assert row["cost_usd"] is None


def test_generic_csv_unknown_columns_fail_the_file_naming_them():
    with pytest.raises(ParseError, match="unknown column.*'tokens_total'"):
        generic_csv.parse(
            generic_doc("2026-10-01,cursor,cursor,gpt-5,a@example.com,10,5,15", header=GENERIC_HEADER + ",tokens_total")
        )


def test_generic_csv_missing_required_columns_fail_the_file_naming_them():
    with pytest.raises(ParseError, match="missing column.*output_tokens.*day or timestamp"):
        generic_csv.parse(b"vendor,product,model,email,input_uncached_tokens\ncursor,cursor,gpt-5,a@example.com,1\n")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("2026-10-01,cursor,cursor,gpt-5,a@example.com,-10,5", "input_uncached_tokens is negative"),
        ("2026-10-01,cursor,cursor,gpt-5,a@example.com,ten,5", "input_uncached_tokens is not a number"),
        ("2026-10-01,cursor,cursor,gpt-5,a@example.com,10,2.5", "output_tokens is not a whole number"),
        ("01/10/2026,cursor,cursor,gpt-5,a@example.com,10,5", "day is not a date in YYYY-MM-DD form"),
        ("2026-02-30,cursor,cursor,gpt-5,a@example.com,10,5", "day is not a date"),
        ("2026-10-01,cursor,cursor,gpt-5,,10,5", "email is empty"),
        ("2026-10-01,cursor,cursor,gpt-5,nobody,10,5", "email is not an email address"),
        ("2026-10-01,cursor,cursor,,a@example.com,10,5", "model is empty"),
    ],
)
def test_generic_csv_bad_rows_are_rejected_at_their_physical_line(line, reason):
    good = "2026-10-01,cursor,cursor,gpt-5,b@example.com,10,5"
    parsed = generic_csv.parse(generic_doc(good, "", line))  # a blank line 3 still counts as a line
    assert len(parsed.frame) == 1
    assert [r.location for r in parsed.rejections] == ["line 4"]
    assert reason in parsed.rejections[0].reason
    assert parsed.rejections[0].raw == line


def test_generic_csv_negative_cost_is_rejected():
    header = GENERIC_HEADER + ",cost_usd"
    parsed = generic_csv.parse(generic_doc("2026-10-01,cursor,cursor,gpt-5,a@example.com,10,5,-1.00", header=header))
    assert "cost_usd is negative" in parsed.rejections[0].reason


def test_generic_csv_timestamp_without_offset_is_rejected():
    header = GENERIC_HEADER.replace("day", "timestamp")
    parsed = generic_csv.parse(generic_doc("2026-10-01T10:00:00,cursor,cursor,gpt-5,a@example.com,1,1", header=header))
    assert "has no UTC offset" in parsed.rejections[0].reason


def test_generic_csv_duplicate_rows_count_once_and_the_last_wins():
    parsed = generic_csv.parse(
        generic_doc(
            "2026-10-01,cursor,cursor,gpt-5,a@example.com,10,5",
            "2026-10-01,cursor,cursor,gpt-5,b@example.com,1,1",
            "2026-10-01,cursor,cursor,gpt-5,A@Example.com,20,7",
        )
    )
    assert len(parsed.frame) == 2
    assert parsed.frame["input_uncached_tokens"].sum() == 21
    assert [(r.location, r.reason.split(",")[0]) for r in parsed.rejections] == [("line 2", "duplicate of line 4")]


def test_generic_csv_is_not_detected_from_an_unrelated_csv():
    assert not generic_csv.detect_bytes(b"date,amount,currency\n2026-10-01,1.00,USD\n")


def test_generic_csv_row_with_more_values_than_columns_fails_the_file_naming_the_line():
    raw = generic_doc(
        "2026-10-01,cursor,cursor,gpt-5,a@example.com,10,5", "2026-10-01,cursor,cursor,gpt-5,b@example.com,1,1,9"
    )
    with pytest.raises(ParseError, match="line 3"):
        generic_csv.parse(raw)


def test_generic_csv_with_a_header_only_gives_no_rows():
    parsed = generic_csv.parse(generic_doc())
    assert len(parsed.frame) == 0
    assert parsed.rejections == []


def test_an_empty_file_is_refused_as_empty():
    with pytest.raises(ParseError, match="the file is empty"):
        registry.detect_format(b"  \n")


def test_a_utf16_file_is_refused_naming_its_encoding():
    with pytest.raises(ParseError, match="UTF-16"):
        registry.detect_format('{"data": []}'.encode("utf-16"))
