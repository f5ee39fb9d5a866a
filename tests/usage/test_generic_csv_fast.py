"""The generic CSV importer reads canonical lines a column at a time and every other line one by
one (_row). These tests hold the two paths to the same result: the same rows, the same keys, the
same rejections in the same order, with and without the fast path."""

import io
import itertools
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
    canonical_rows = generic_csv._canonical_rows
    monkeypatch.setattr(
        generic_csv,
        "_canonical_rows",
        lambda header, body, first_line, data=None: (canonical_rows(header, [], first_line)[0], list(range(len(body)))),
    )


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


# Cells at the edges of the column-wise checks (_Chunk): each line gives what _row gives.
EDGE_LINES = [
    "2026-11-02T10:00:00Z,ann@example.com,anthropic,api,m,1,0,0,2,1,,",  # already bucket_start
    "2026-11-02T10:00:01.000001Z,ann@example.com,anthropic,api,m,1,0,0,2,1,,",
    "2024-02-29T23:59:59.999999Z,ann@example.com,anthropic,api,m,1,0,0,2,1,,",
    "2026-02-29T00:00:00Z,ann@example.com,anthropic,api,m,1,0,0,2,1,,",  # no such day
    "2026-11-02T23:59:60Z,ann@example.com,anthropic,api,m,1,0,0,2,1,,",
    "2026-11-02T23:60:00.100000Z,ann@example.com,anthropic,api,m,1,0,0,2,1,,",
    "2026-13-02T10:00:00Z,ann@example.com,anthropic,api,m,1,0,0,2,1,,",
    "1899-12-31T23:59:59Z,ann@example.com,anthropic,api,m,1,0,0,2,1,,",
    "1900-01-01T00:00:00Z,ann@example.com,anthropic,api,m,1,0,0,2,1,,",
    "2200-12-31T23:59:59.500000Z,ann@example.com,anthropic,api,m,1,0,0,2,1,,",
    "2201-01-01T00:00:00Z,ann@example.com,anthropic,api,m,1,0,0,2,1,,",
    "2026-11-02T10:00:02.5+00:00,ann@example.com,anthropic,api,m,1,0,0,2,1,,",
    "2026-11-02T10:00:03,ann@example.com,anthropic,api,m,1,0,0,2,1,,",  # 19 characters, no offset
    "2026-11-02T10:00:04.1234Z,ann@example.com,anthropic,api,m,1,0,0,2,1,,",
    "2026-11-02T10:00:05Z,ANN@EXAMPLE.COM,ANTHROPIC,API,Model-X,1,0,0,2,1,,",
    "2026-11-02T10:00:06Z,a@b@c,anthropic,api,m,1,0,0,2,1,,",
    "2026-11-02T10:00:07Z,ann@example.com,anthropic,api,m,123456789012345,0,0,2,1,,",  # 15 digits
    "2026-11-02T10:00:08Z,ann@example.com,anthropic,api,m,0123456789012345,0,0,2,1,,",  # 16
    "2026-11-02T10:00:09Z,ann@example.com,anthropic,api,m,000,,,,,,",
    "2026-11-02T10:00:10Z,ann@example.com,anthropic,api,m,1,0,0,2,1,0.5,org x",
    "2026-11-02T10:00:11Z,ann@example.com,anthropic,api,m,1,0,0,2,1,,org x ",  # padded
    f"2026-11-02T10:00:12Z,ann@example.com,{'v' * 40},api,m,1,0,0,2,1,,",
    f"2026-11-02T10:00:13Z,ann@example.com,{'v' * 41},api,m,1,0,0,2,1,,",
    f"2026-11-02T10:00:14Z,ann@example.com,anthropic,api,{'M' * 200},1,0,0,2,1,,",  # past the window
    f"2026-11-02T10:00:15Z,ann@example.com,anthropic,api,{'M' * 201},1,0,0,2,1,,",
    f"2026-11-02T10:00:16Z,ann@example.com,anthropic,api,m,1,0,0,2,1,,{'a' * 255}",
    f"2026-11-02T10:00:17Z,ann@example.com,anthropic,api,m,1,0,0,2,1,,{'a' * 256}",
    "2026-11-02T10:00:18Z,ann@example.com,anthropic,api,tab\there,1,0,0,2,1,,",
    "2026-11-02T10:00:19Z,ann@example.com,anthropic,api,del\x7f,1,0,0,2,1,,",
    "2026-11-02T10:00:20Z,ann@example.com,anthropic,api,nul\x00,1,0,0,2,1,,",
    "2026-11-02T10:00:21Z,ann@example.com,anthropic,api,cr\rhere,1,0,0,2,1,,",
    "\ufeff2026-11-02T10:00:22Z,ann@example.com,anthropic,api,m,1,0,0,2,1,,",  # a BOM inside
    "2026-11-02T10:00:24Z,ann@example.com,anthropic,api,m,1,0,0,2,1",  # cut short
]


@pytest.mark.parametrize("lines", [EDGE_LINES, EDGE_LINES[:3], EDGE_LINES[3:5] + EDGE_LINES[:1], EDGE_LINES[::-1]])
def test_fast_path_edges_give_what_the_per_row_path_gives(monkeypatch, lines):
    monkeypatch.setattr(generic_csv, "LONG_ROWS", 2)  # long cells read a few rows at a time
    raw = ("\n".join([EVENTS_HEADER, *lines]) + "\n").encode()
    fast, slow = both_paths(monkeypatch, raw)
    pd.testing.assert_frame_equal(fast.frame, slow.frame)
    assert fast.rejections == slow.rejections


def test_a_chunk_of_rejected_canonical_lines_keeps_the_frame_types(monkeypatch):
    raw = ("\n".join([EVENTS_HEADER, EDGE_LINES[0], EDGE_LINES[3], EDGE_LINES[4], EDGE_LINES[1]]) + "\n").encode()
    chunks = list(generic_csv.parse_chunks(io.BytesIO(raw), rows=2))
    assert [len(c.frame) for c in chunks] == [1, 1]
    assert [len(c.frame) for c in generic_csv.parse_chunks(io.BytesIO(raw), rows=1)] == [1, 0, 0, 1]
    empty = list(generic_csv.parse_chunks(io.BytesIO(raw), rows=1))[1].frame
    assert empty.dtypes.equals(chunks[0].frame.dtypes)


# Reading a chunk's bytes at once (parse_chunks): the lines, line numbers and errors of a read
# line by line.
def readline_chunks(raw: bytes, rows: int) -> list[list[str]]:
    fh = io.BytesIO(raw)
    fh.readline()
    source = iter(fh.readline, b"")
    chunks = []
    while lines := [line.decode().rstrip("\r\n") for line in itertools.islice(source, rows)]:
        chunks.append(lines)
    return chunks


MIXED_ENDINGS = (
    EVENTS_HEADER.encode()
    + b"\r\n"
    + EVENT_LINES[0].encode()
    + b"\r\n"
    + EVENT_LINES[1].encode()
    + b"\n\n"  # a blank line
    + EVENT_LINES[2].replace("bob", "b\rob").encode()  # a lone CR inside a line
    + b"\r\r\n"
    + "\ufeff".encode()
    + EVENT_LINES[3].replace("gpt-5", "gpt-ünï").encode()
    + b"\n\r\n"
    + EVENT_LINES[4].encode()  # the last line, without a line break
)


@pytest.mark.parametrize("read_bytes", [1, 7, 64, 1 << 22])
@pytest.mark.parametrize("rows", [1, 2, 3, 50])
def test_chunks_hold_the_lines_a_line_by_line_read_gives(monkeypatch, read_bytes, rows):
    monkeypatch.setattr(generic_csv, "READ_BYTES", read_bytes)
    fh = io.BytesIO(MIXED_ENDINGS)
    fh.readline()
    blocks = list(generic_csv._line_blocks(fh, rows))
    assert [generic_csv._block_lines(block, 2) for block in blocks] == readline_chunks(MIXED_ENDINGS, rows)


@pytest.mark.parametrize("read_bytes", [7, 1 << 22])
@pytest.mark.parametrize("ending", ["\n", "\r\n"])
@pytest.mark.parametrize("last", ["\n", ""])
@pytest.mark.parametrize("bom", ["", "\ufeff"])
def test_chunks_read_line_ends_a_bom_and_blank_lines_as_one_parse(monkeypatch, read_bytes, ending, last, bom):
    monkeypatch.setattr(generic_csv, "READ_BYTES", read_bytes)
    lines = [line for line in EVENT_LINES if "carl" not in line]  # no key across chunks here
    raw = (bom + ending.join([EVENTS_HEADER, *lines[:8], "", *lines[8:]]) + last).encode()
    whole = generic_csv.parse(raw)
    for rows in (1, 3, 50):
        chunks = list(generic_csv.parse_chunks(io.BytesIO(raw), rows=rows))
        frames = [c.frame for c in chunks if not c.frame.empty]  # (the pipeline skips those)
        pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), whole.frame)
        assert [r for c in chunks for r in c.rejections] == whole.rejections


@pytest.mark.parametrize("read_bytes", [7, 1 << 22])
@pytest.mark.parametrize("rows", [1, 2, 4, 50])
@pytest.mark.parametrize(("bad", "byte"), [(2, b"\xe9"), (3, b"\xff"), (5, b"\xc3"), (6, b"\xe2\x82")])
def test_a_line_that_is_not_utf8_is_named_by_its_number(monkeypatch, read_bytes, rows, bad, byte):
    monkeypatch.setattr(generic_csv, "READ_BYTES", read_bytes)
    lines = [line.encode() for line in [EVENTS_HEADER, *EVENT_LINES[:5]]]
    # In a line, or cut short at its end (\xc3 then the line break).
    lines[bad - 1] = lines[bad - 1] + byte if byte == b"\xc3" else lines[bad - 1][:20] + byte + lines[bad - 1][20:]
    raw = b"\r\n".join(lines) + b"\r\n"
    message = f"line {bad} is not UTF-8 text (byte 0x{byte[0]:02x}); save the CSV again as UTF-8"
    with pytest.raises(ParseError, match=re.escape(message)):
        list(generic_csv.parse_chunks(io.BytesIO(raw), rows=rows))


@pytest.mark.parametrize("rest", ["", "\n", "\r\n", "\n\n"])
def test_a_header_without_rows_gives_no_rows(rest):
    raw = (EVENTS_HEADER + rest).encode()
    assert generic_csv.parse(raw).frame.empty and not generic_csv.parse(raw).rejections
    chunks = list(generic_csv.parse_chunks(io.BytesIO(raw)))
    assert all(c.frame.empty and not c.rejections for c in chunks)
