"""The generic CSV importer reads canonical lines a column at a time and every other line one by
one (_row). These tests hold the two paths to the same result: the same rows, the same keys, the
same rejections in the same order, with and without the fast path."""

import io
import re

import pandas as pd
import pytest

from usage.importers import generic_csv
from usage.importers.base import ParseError

EVENTS_HEADER = (
    "timestamp,email,vendor,product,model,input_uncached_tokens,cache_read_tokens,"
    "cache_write_5m_tokens,output_tokens,requests,cost_usd,account"
)
EVENT_LINES = [
    "2026-11-02T10:00:00.123456Z,Ann@Example.com,anthropic,claude_code,claude-opus-4-1,10,20,30,40,1,,",
    "2026-11-02T10:00:01Z,ann@example.com,Anthropic,API,claude-sonnet-4,1,0,0,2,1,0.50,org-1",
    "2026-11-02T10:00:02.000000Z,bob@example.com,openai,api,gpt-5,1,0,0,2,1,1.50,",
    "2026-11-02T10:00:03.5Z,bob@example.com,openai,api,gpt-5,1,0,0,2,1,007.5,",
    "2026-11-02T11:00:04+01:00,bob@example.com,openai,api,gpt-5,1,0,0,2,1,,",
    "2026-11-02T05:30:05-05:30,bob@example.com,openai,api,gpt-5,1,0,0,2,1,1e-4,",
    "2026-11-02T10:00:06,bob@example.com,openai,api,gpt-5,1,0,0,2,1,,",  # no offset
    "2026-02-30T10:00:00Z,bob@example.com,openai,api,gpt-5,1,0,0,2,1,,",  # no such day
    "2026-11-02T24:00:00Z,bob@example.com,openai,api,gpt-5,1,0,0,2,1,,",
    "2026-11-02T10:00:07.1234567Z,bob@example.com,openai,api,gpt-5,1,0,0,2,1,,",
    "2026-11-02 10:00:08Z,bob@example.com,openai,api,gpt-5,1,0,0,2,1,,",
    "0001-01-01T00:30:00+01:00,bob@example.com,openai,api,gpt-5,1,0,0,2,1,,",
    "2026-11-02T10:00:09Z,bob@example.com,openai,api,gpt-5,+5,0,0,2,1,,",
    "2026-11-02T10:00:10Z,bob@example.com,openai,api,gpt-5,5.0,0,0,2,1,,",
    "2026-11-02T10:00:11Z,bob@example.com,openai,api,gpt-5,1e3,0,0,2,1,,",
    "2026-11-02T10:00:12Z,bob@example.com,openai,api,gpt-5,-1,0,0,2,1,,",
    "2026-11-02T10:00:13Z,bob@example.com,openai,api,gpt-5,007,0,0,2,1,,",
    "2026-11-02T10:00:14Z,bob@example.com,openai,api,gpt-5,１２,0,0,2,1,,",
    "2026-11-02T10:00:15Z,bob@example.com,openai,api,gpt-5,1,0,0,2,1,-0.1,",
    "2026-11-02T10:00:16Z,bob@example.com,openai,api,gpt-5,1,0,0,2,1,.5,",
    "2026-11-02T10:00:17Z,bob@example.com,openai,api,gpt-5,1,0,0,2,1,abc,",
    "2026-11-02T10:00:18Z,no-at-sign,openai,api,gpt-5,1,0,0,2,1,,",
    "2026-11-02T10:00:19Z,,openai,api,gpt-5,1,0,0,2,1,,",
    "2026-11-02T10:00:20Z,bob@example.com,,api,gpt-5,1,0,0,2,1,,",
    "2026-11-02T10:00:21Z,bob@example.com, openai ,api,gpt 5 turbo,1,0,0,2,1,,",
    '2026-11-02T10:00:22Z,bob@example.com,"openai",api,gpt-5,1,0,0,2,1,,',
    "2026-11-02T10:00:23Z,bob@example.com,openai,api,gpt\\5,1,0,0,2,1,,",
    "2026-11-02T10:00:24Z,björn@example.com,openai,api,clåude,1,0,0,2,1,,",
    "",
    " , , , , , , , , , , , ",
    # A key three times (the last counts), once padded so that its lines take both paths.
    "2026-11-02T12:00:00Z,carl@example.com,openai,api,gpt-5,1,0,0,2,1,,",
    "2026-11-02T12:00:00Z,carl@example.com,openai,api,gpt-5,bad,0,0,2,1,,",
    "2026-11-02T12:00:00Z,CARL@example.com ,openai,api,gpt-5,2,0,0,2,1,,",
    "2026-11-02T12:00:00.000000Z,carl@example.com,OpenAI,api,gpt-5,3,0,0,2,1,,",
    "2026-11-02T10:00:25Z,bob@example.com,openai,api,gpt-5,1234567890123456789,0,0,2,1,,",
]
DAY_HEADER = "day,identity_kind,identity_value,vendor,product,model,input_uncached_tokens,output_tokens"
DAY_LINES = [
    "2026-11-02,api_key_id,Key-ABC,openai,api,gpt-5,1,2",
    "2026-11-02,email,Dana@Example.com,openai,api,gpt-5,1,2",
    "2026-11-02,email,dana-no-at,openai,api,gpt-5,1,2",
    "2026-11-02,,key-1,openai,api,gpt-5,1,2",
    "2026-11-02,api_key_id,,openai,api,gpt-5,1,2",
    "2026-11-31,api_key_id,key-1,openai,api,gpt-5,1,2",
    "2026-1-02,api_key_id,key-1,openai,api,gpt-5,1,2",
    "2026-11-03,api_key_id,Key-ABC,openai,api,gpt-5,1,2",
    "2026-11-03,api_key_id,Key-ABC,openai,api,gpt-5,4,5",
]


def slow_only(monkeypatch):
    """Every line through _row: the reference the fast path must equal."""
    generic_csv._canonical_line.cache_clear()
    monkeypatch.setattr(generic_csv, "_canonical_line", lambda header: re.compile(r"(?!)"))


def both_paths(monkeypatch, raw: bytes):
    fast = generic_csv.parse(raw)
    with monkeypatch.context() as patch:
        slow_only(patch)
        slow = generic_csv.parse(raw)
    return fast, slow


@pytest.mark.parametrize(("header", "lines"), [(EVENTS_HEADER, EVENT_LINES), (DAY_HEADER, DAY_LINES)])
def test_fast_path_gives_what_the_per_row_path_gives(monkeypatch, header, lines):
    raw = ("\n".join([header, *lines]) + "\n").encode()
    fast, slow = both_paths(monkeypatch, raw)
    pd.testing.assert_frame_equal(fast.frame, slow.frame)
    assert fast.rejections == slow.rejections
    # The file has both kinds of line, and both kinds of outcome.
    assert len(fast.frame) >= 3
    assert len(fast.rejections) >= 3


def test_fast_path_reads_canonical_lines_itself(monkeypatch):
    calls = []
    real_row = generic_csv._row
    monkeypatch.setattr(
        generic_csv, "_row", lambda values, location: calls.append(location) or real_row(values, location)
    )
    raw = ("\n".join([EVENTS_HEADER, *EVENT_LINES[:3]]) + "\n").encode()
    parsed = generic_csv.parse(raw)
    assert len(parsed.frame) == 3
    assert calls == []  # no line needed the per-row path


def test_fast_path_keys_equal_natural_key(monkeypatch):
    raw = ("\n".join([EVENTS_HEADER, *EVENT_LINES]) + "\n").encode()
    frame = generic_csv.parse(raw).frame
    row = frame.iloc[0]
    assert row["dedup_key"] == generic_csv.natural_key(
        "2026-11-02T10:00:00.123456Z",
        "event",
        "anthropic",
        "claude_code",
        "",
        "email",
        "ann@example.com",
        "claude-opus-4-1",
    )
    assert set(frame["bucket_start"]) >= {"2026-11-02T10:00:01Z", "2026-11-02T10:00:02Z", "2026-11-02T10:00:03.500000Z"}


def test_streamed_chunks_give_the_same_rows_as_one_parse(monkeypatch):
    lines = [line for line in EVENT_LINES if "carl" not in line]  # no key across chunks here
    raw = ("\n".join([EVENTS_HEADER, *lines]) + "\n").encode()
    whole = generic_csv.parse(raw)
    chunks = list(generic_csv.parse_chunks(io.BytesIO(raw), rows=4))
    pd.testing.assert_frame_equal(pd.concat([c.frame for c in chunks], ignore_index=True), whole.frame)
    assert [r for c in chunks for r in c.rejections] == whole.rejections


@pytest.mark.parametrize("bad", [1, 2])
def test_a_row_with_too_many_cells_is_named_by_its_own_line(bad):
    lines = EVENT_LINES[:3]
    lines[bad] += ",extra"
    with pytest.raises(ParseError, match=f"line {bad + 2}, saw 13"):
        generic_csv.parse(("\n".join([EVENTS_HEADER, *lines]) + "\n").encode())


def test_every_row_with_one_cell_too_many_is_not_read_shifted():
    lines = [line + ",extra" for line in EVENT_LINES[:3]]
    with pytest.raises(ParseError, match="line 2, saw 13"):
        generic_csv.parse(("\n".join([EVENTS_HEADER, *lines]) + "\n").encode())
