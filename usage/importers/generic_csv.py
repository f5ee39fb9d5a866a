"""Tokenboard's own usage CSV, for any source without an importer (docs/generic-csv.md).

Attribution source. Token columns follow the canonical split: `input_uncached_tokens` excludes
cache reads and writes. `cost_usd` is dollars; empty means "price it from the tokens".
Each bad row becomes a rejection at "line N" (the physical line, the header is line 1).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import re
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import BinaryIO

import numpy as np
import pandas as pd

from .base import (
    TEXT_LIMITS,
    USAGE_COLUMNS,
    ParsedExport,
    ParseError,
    Rejection,
    natural_key,
    non_negative_decimal,
    non_negative_int,
    storable,
    usage_frame,
    usage_frame_types,
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
# Cells in canonical form, read by one expression per line (_canonical_rows); anything else goes
# through the CSV reader and _row. Text: printable ASCII without quote, comma or backslash, not
# padded (json.dumps writes it unchanged in a natural key).
_EDGE = r"[!#-+\--\[\]-~]"


def _text(most: int) -> str:
    """A canonical text cell of 1 to `most` characters (the column's TEXT_LIMITS)."""
    return rf"{_EDGE}(?:[ !#-+\--\[\]-~]{{0,{most - 2}}}{_EDGE})?"


CANONICAL_CELLS = {
    "day": r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
    "timestamp": r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])",
    **{name: _text(TEXT_LIMITS[name]) for name in ("vendor", "product", "model", "identity_kind", "identity_value")},
    "email": _text(TEXT_LIMITS["identity_value"]),
    "account": f"(?:{_text(TEXT_LIMITS['account'])})?",
    **dict.fromkeys(COUNT_COLUMNS, "[0-9]{0,15}"),  # up to MAX_COUNT
    "cost_usd": r"(?:(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,20})?)?",  # below MAX_AMOUNT, MONEY_PLACES
}
NEWLINE = re.compile(r"\r\n|\r|\n")


DETECT_COLUMNS = ("vendor", "model", "output_tokens")
WHAT = "a generic usage CSV"


def detect_bytes(head: bytes) -> bool:
    return set(DETECT_COLUMNS) <= header_names(head, lower=False)


def parse(raw: bytes) -> ParsedExport:
    return _parsed(_lines(_decode(raw)), first_line=2)


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
            parsed = _parsed([header, *lines], first_line=line_no + 1)
        except ParseError as exc:
            raise ParseError(f"lines {line_no + 1}-{line_no + len(lines)}: {exc}") from exc
        yield parsed
        line_no += len(lines)


def _decode_line(raw: bytes, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"line {line} is not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the CSV again as UTF-8"
        ) from exc


def _parsed(lines: list[str], *, first_line: int) -> ParsedExport:
    """Rows and rejections of `lines` (a header, then rows, the first on physical line `first_line`).

    Lines in canonical form are read by one regular expression and converted a column at a time
    (_canonical_rows); every other line goes through the CSV reader and _row, which reads the
    forms the fast path leaves out and words every rejection. Either way a line gives the same
    row (tests/usage/test_generic_csv_fast.py).
    """
    header = _header(lines[0])
    body = lines[1:]
    fast, others = _canonical_rows(header, body, first_line)
    frame = _read_lines(lines, others)
    blank = (frame == "").all(axis=1)  # a blank line holds no data
    pending = frame.loc[~blank]
    slow, slow_positions = [], []
    rejections = []  # (the line that decided it, rejection): sorted into file order below
    for position, values in zip(pending.index, pending.to_dict("records"), strict=True):
        line = position + first_line
        # pandas pads a short row with empty cells: a row cut short (a file cut off mid-line) would
        # load its missing counts as zeros.
        width = len(next(csv.reader([body[position]])))
        if width < len(header):
            reason = f"{width} values for {len(header)} columns: the row is cut short"
            rejections.append((line, Rejection(f"line {line}", reason, body[position][:500])))
            continue
        try:
            slow.append(_row(values, f"line {line}"))
            slow_positions.append(position)
        except ValueError as exc:
            rejections.append((line, Rejection(f"line {line}", str(exc), body[position][:500])))
    rows = fast
    if slow:
        # Canonical lines hold no NUL and no overlong text (CANONICAL_CELLS); other lines may.
        others, unstorable = storable(usage_frame(slow).set_axis(slow_positions))
        dropped = sorted(set(slow_positions) - set(others.index))
        rejections += [(position + first_line, r) for position, r in zip(dropped, unstorable, strict=True)]
        rows = others if fast.empty else pd.concat([fast, others]).sort_index()
    # A key seen again: the later line counts (as the ingest service does for every format), and
    # each earlier one is reported when the next one is read.
    keys = rows["dedup_key"]
    superseded = keys.duplicated(keep="last")
    if superseded.any():
        later = pd.Series(rows.index, index=rows.index).groupby(keys.to_numpy()).shift(-1)
        reason = "duplicate of line {}, which counts instead (same time, vendor, product, account, identity, model)"
        for position, next_position in zip(rows.index[superseded], later[superseded].astype(int), strict=True):
            next_line = next_position + first_line
            rejection = Rejection(f"line {position + first_line}", reason.format(next_line), body[position][:500])
            rejections.append((next_line, rejection))
    rejections.sort(key=lambda item: item[0])
    rows = rows.loc[~superseded].reset_index(drop=True)
    return ParsedExport(FORMAT, DATASET, "attribution", rows, [rejection for _, rejection in rejections])


def _canonical_rows(header: list[str], body: list[str], first_line: int) -> tuple[pd.DataFrame, list[int]]:
    """The rows of the lines in canonical form (plain ASCII cells, no quotes or padding, whole
    counts, plain decimals), converted column by column, and the positions of all other lines.
    The checks here only need to be strict, never complete: what they leave goes to _row."""
    matches = list(map(_canonical_line(tuple(header)).fullmatch, body))
    positions = np.array([n for n, match in enumerate(matches) if match], dtype=np.int64)
    # Canonical lines hold no quotes: their cells are what lies between the commas.
    flat = ",".join([line for line, match in zip(body, matches, strict=True) if match]).split(",")
    cells = {name: flat[n :: len(header)] if len(positions) else [] for n, name in enumerate(header)}
    ok = np.ones(len(positions), dtype=bool)
    if "day" in cells:
        day = pd.Series(cells["day"], dtype=str)
        ok &= pd.to_datetime(day, format="%Y-%m-%d", errors="coerce").notna().to_numpy()
        start, width = (day + "T00:00:00Z").tolist(), "1d"
    else:
        moment = pd.to_datetime(pd.Series(cells["timestamp"], dtype=str), utc=True, format="ISO8601", errors="coerce")
        # Years far from ours have edge cases (an offset past year 1): _row decides those.
        ok &= (moment.notna() & moment.dt.year.between(1900, 2200)).to_numpy()
        start, width = _utc_iso(moment.where(ok, pd.Timestamp(0, tz="UTC"))), "event"
    vendor = [text.lower() for text in cells["vendor"]]
    product = [text.lower() for text in cells["product"]]
    model = list(cells["model"])
    account = [text or "" for text in cells.get("account", ())] or [""] * len(positions)
    if "email" in cells:
        kind, value = ["email"] * len(positions), [text.lower() for text in cells["email"]]
        ok &= np.array(["@" in text for text in value], dtype=bool)
    else:
        kind = list(cells["identity_kind"])
        value = [text.lower() if k == "email" else text for k, text in zip(kind, cells["identity_value"], strict=True)]
        ok &= np.array([k != "email" or "@" in text for k, text in zip(kind, value, strict=True)], dtype=bool)
    widths = [width] * len(positions)
    # The cells are printable ASCII without quote or backslash: json.dumps would write them as they are.
    keys = [
        hashlib.sha256(('["' + '","'.join(parts) + '"]').encode()).hexdigest()[:32]
        for parts in zip(start, widths, vendor, product, account, kind, value, model, strict=True)
    ]
    counts = {
        name: np.array([int(text) if text else 0 for text in cells[name]], dtype=np.int64) if name in cells else 0
        for name in COUNT_COLUMNS
    }
    # A plain decimal is already in usd_text's form; empty means "price it from the tokens".
    cost = [text or None for text in cells["cost_usd"]] if "cost_usd" in cells else None
    rows = pd.DataFrame(
        {
            "dedup_key": keys,
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
            "cost_usd": cost,
            "location": [f"line {n + first_line}" for n in positions.tolist()],
        },
        index=positions,
        columns=list(USAGE_COLUMNS),
    )
    rows = usage_frame_types(rows.loc[ok])
    done = set(positions[ok].tolist())
    return rows, [n for n in range(len(body)) if n not in done]


@functools.lru_cache(maxsize=32)
def _canonical_line(header: tuple[str, ...]) -> re.Pattern:
    """One expression for a whole line in canonical form under this header (see _canonical_rows)."""
    return re.compile(",".join(f"(?:{CANONICAL_CELLS[name]})" for name in header))


def _utc_iso(moment: pd.Series) -> list[str]:
    """utc_iso() of each time: whole seconds without a fraction, else six digits, then Z."""
    text = np.datetime_as_string(moment.dt.tz_localize(None).to_numpy().astype("datetime64[us]"), unit="us")
    whole = (moment.dt.microsecond == 0).to_numpy()
    return [f"{t[:19]}Z" if w else f"{t}Z" for t, w in zip(text.tolist(), whole.tolist(), strict=True)]


def _read_lines(lines: list[str], positions: list[int]) -> pd.DataFrame:
    """The cells of these body lines (by position) as strings, indexed by position."""
    if not positions:
        return pd.DataFrame(columns=_header(lines[0]), dtype=str)
    if len(positions) == len(lines) - 1:
        text = "\n".join(lines) + "\n"
    else:
        text = "\n".join([lines[0], *(lines[n + 1] for n in positions)]) + "\n"
    try:
        _, frame = _read(text)
    except ParseError:
        _read("\n".join(lines) + "\n")  # the whole chunk names the right line
        raise
    return frame.set_axis(positions)


def _lines(text: str) -> list[str]:
    lines = NEWLINE.split(text)
    if lines[-1] == "":
        lines.pop()
    return lines


def _read(text: str) -> tuple[list[str], pd.DataFrame]:
    """The physical lines (for locations and raw text) and the cells as strings, header checked."""
    lines = _lines(text)
    header = _header(lines[0])
    try:
        # The header read as a row: a row with more values than it has names is an error naming
        # the line (with a header, pandas would quietly take a first extra column as the index).
        frame = pd.read_csv(io.StringIO(text), header=None, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except pd.errors.ParserError as exc:
        raise ParseError(f"the CSV cannot be read: {str(exc).strip()}") from exc
    if len(frame) != len(lines):
        # Locations are physical lines, so each row must sit on one line.
        raise ParseError("a quoted value runs over several lines; put each row on one line")
    frame = frame.iloc[1:].reset_index(drop=True)
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
    try:
        return utc_iso(moment)
    except OverflowError:  # 0001-01-01T00:30+01:00 is a time before year 1 in UTC
        raise ValueError(f"timestamp is out of range: {text!r}") from None


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
