"""Tokenboard's own usage CSV, for any source without an importer (docs/generic-csv.md).

Attribution source. Token columns follow the canonical split: `input_uncached_tokens` excludes
cache reads and writes. `cost_usd` is dollars; empty means "price it from the tokens".
Each bad row becomes a rejection at "line N" (the physical line, the header is line 1).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import BinaryIO

import pandas as pd

from .base import (
    ParsedExport,
    ParseError,
    Rejection,
    natural_key,
    non_negative_decimal,
    non_negative_int,
    usage_frame,
    usd_text,
    utc_iso,
)
from .readers import header_names

CHUNK_ROWS = 50_000  # lines parsed at a time by parse_chunks: a worker stays well under 500 MB
FORMAT = "generic_csv"
DATASET = "generic_csv"
KIND = "csv"

BASE_COLUMNS = ("vendor", "product", "model", "input_uncached_tokens", "output_tokens")
OPTIONAL_COLUMNS = (
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "requests",
    "cost_usd",
    "account",
)
TIME_COLUMNS = ("day", "timestamp")
IDENTITY_COLUMNS = ("email", "identity_kind", "identity_value")
ALL_COLUMNS = (*TIME_COLUMNS, *BASE_COLUMNS, *IDENTITY_COLUMNS, *OPTIONAL_COLUMNS)
COUNT_COLUMNS = (
    "input_uncached_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "requests",
)
DAY_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
NEWLINE = re.compile(r"\r\n|\r|\n")


def detect_bytes(head: bytes) -> bool:
    names = header_names(head, lower=False)
    return {"vendor", "model", "output_tokens"} <= names


def parse(raw: bytes) -> ParsedExport:
    lines, frame = _read(_decode(raw))
    return _parsed(lines, frame, first_line=2)


def parse_chunks(fh: BinaryIO, *, rows: int | None = None) -> Iterator[ParsedExport]:
    """parse(), `rows` lines at a time, so that a gateway log of any size is read in bounded
    memory. A key repeated across chunks is resolved by the pipeline (the later row counts)."""
    rows = rows or CHUNK_ROWS
    header = _decode_line(fh.readline(), 1).removeprefix("\ufeff").rstrip("\r\n")
    if not header.strip():
        raise ParseError("the file is empty")
    _header(header)
    # One iterator over the rest: iterating a Django File anew would seek back to the start.
    source = iter(fh.readline, b"")
    line_no = 1
    while True:
        lines = [_decode_line(raw, line_no + n + 1).rstrip("\r\n") for n, raw in enumerate(islice(source, rows))]
        if not lines:
            return
        try:
            _, frame = _read("\n".join([header, *lines]) + "\n")
        except ParseError as exc:
            raise ParseError(f"lines {line_no + 1}-{line_no + len(lines)}: {exc}") from exc
        yield _parsed([header, *lines], frame, first_line=line_no + 1)
        line_no += len(lines)


def _decode_line(raw: bytes, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"line {line} is not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the CSV again as UTF-8"
        ) from exc


def _parsed(lines: list[str], frame: pd.DataFrame, *, first_line: int) -> ParsedExport:
    """Rows and rejections of `frame` (cells of `lines[1:]`), the first on physical line `first_line`."""
    by_key: dict[str, tuple[int, dict]] = {}  # dedup_key -> (line, row)
    rejections = []
    for index, values in enumerate(frame.to_dict("records")):
        line = index + first_line
        text = lines[index + 1]
        if not any(values.values()):
            continue  # a blank line holds no data
        try:
            row = _row(values, f"line {line}")
        except ValueError as exc:
            rejections.append(Rejection(f"line {line}", str(exc), text[:500]))
            continue
        if row["dedup_key"] in by_key:
            # The last occurrence counts, as the ingest service does for every format.
            earlier, _ = by_key.pop(row["dedup_key"])
            reason = (
                f"duplicate of line {line}, which counts instead (same time, vendor, product, account, identity, model)"
            )
            rejections.append(Rejection(f"line {earlier}", reason, lines[earlier - first_line + 1][:500]))
        by_key[row["dedup_key"]] = (line, row)
    rows = [row for _, row in by_key.values()]
    return ParsedExport(FORMAT, DATASET, "attribution", usage_frame(rows), rejections)


def _read(text: str) -> tuple[list[str], pd.DataFrame]:
    """The physical lines (for locations and raw text) and the cells as strings, header checked."""
    lines = NEWLINE.split(text)
    if lines[-1] == "":
        lines.pop()
    header = _header(lines[0])
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False)
    except pd.errors.ParserError as exc:
        # Typically a row with more values than the header has columns; pandas names the line.
        raise ParseError(f"the CSV cannot be read: {str(exc).strip()}") from exc
    if len(frame) != len(lines) - 1:
        # Locations are physical lines, so each row must sit on one line.
        raise ParseError("a quoted value runs over several lines; put each row on one line")
    frame.columns = header
    return lines, frame


def _decode(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x}); save the CSV again as UTF-8"
        ) from exc
    if not text.strip():
        raise ParseError("the file is empty")
    return text


def _header(line: str) -> list[str]:
    """The column names, checked: unknown, missing or repeated columns fail the whole file."""
    names = [name.strip() for name in next(csv.reader([line]))]
    problems = []
    unknown = [n for n in names if n not in ALL_COLUMNS]
    if unknown:
        problems.append(f"unknown column(s) {', '.join(repr(n) for n in unknown)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"repeated column(s) {', '.join(repeated)}")
    missing = [n for n in BASE_COLUMNS if n not in names]
    if ("day" in names) == ("timestamp" in names):
        missing.append("exactly one of day or timestamp")
    if "email" in names:
        if "identity_kind" in names or "identity_value" in names:
            problems.append("give either email or identity_kind + identity_value, not both")
    elif not ("identity_kind" in names and "identity_value" in names):
        missing.append("email (or both identity_kind and identity_value)")
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if problems:
        raise ParseError(f"header: {'; '.join(problems)}. Allowed columns: {', '.join(ALL_COLUMNS)}")
    return names


def _row(values: dict, location: str) -> dict:
    values = {name: value.strip() for name, value in values.items()}
    if "day" in values:
        start, width = _day(values["day"]), "1d"
    else:
        start, width = _timestamp(values["timestamp"]), "event"
    vendor, product, model = (_required(values, n) for n in ("vendor", "product", "model"))
    kind, value = _identity(values)
    account = values.get("account", "")
    counts = {name: _count(values.get(name, ""), name) for name in COUNT_COLUMNS}
    cost = values.get("cost_usd", "")
    return {
        "dedup_key": natural_key(start, width, vendor, product, account, kind, value, model),
        "bucket_start": start,
        "bucket_width": width,
        "vendor": vendor,
        "product": product,
        "account": account,
        "identity_kind": kind,
        "identity_value": value,
        "model": model,
        "long_context": False,
        **counts,
        "cost_usd": usd_text(non_negative_decimal(cost, "cost_usd")) if cost else None,
        "location": location,
    }


def _day(text: str) -> str:
    try:
        if not DAY_PATTERN.fullmatch(text):
            raise ValueError
        return f"{date.fromisoformat(text).isoformat()}T00:00:00Z"
    except ValueError:
        raise ValueError(f"day is not a date in YYYY-MM-DD form: {text!r}") from None


def _timestamp(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"timestamp is not an ISO-8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"timestamp has no UTC offset: {text!r}; end it with Z or +HH:MM")
    return utc_iso(moment)


def _required(values: dict, name: str) -> str:
    if not values[name]:
        raise ValueError(f"{name} is empty")
    # vendor and product are lower-case names (anthropic, claude_code); model is kept as written.
    return values[name] if name == "model" else values[name].lower()


def _identity(values: dict) -> tuple[str, str]:
    if "email" in values:
        kind, value = "email", values["email"]
    else:
        kind, value = values["identity_kind"], values["identity_value"]
        if not kind:
            raise ValueError("identity_kind is empty")
    if not value:
        raise ValueError(f"{'email' if 'email' in values else 'identity_value'} is empty")
    if kind == "email":
        if "@" not in value:
            raise ValueError(f"email is not an email address: {value!r}")
        value = value.lower()
    return kind, value


def _count(text: str, name: str) -> int:
    """A whole non-negative number; an empty cell or a missing optional column is 0."""
    if not text:
        return 0
    try:
        Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{name} is not a number: {text!r}") from None
    return non_negative_int(text, name)
