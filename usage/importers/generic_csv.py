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
from typing import BinaryIO

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

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
READ_BYTES = 1 << 22  # read at a time by parse_chunks
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
    line_no = 1
    for block in _line_blocks(fh, rows):
        lines = _block_lines(block, line_no + 1)
        # The bytes as _canonical_rows reads them, unless line ends need work (CR, none at the end).
        data = None if b"\r" in block else block if block.endswith(b"\n") else block + b"\n"
        try:
            parsed = _parsed([header, *lines], first_line=line_no + 1, data=data)
        except ParseError as exc:
            raise ParseError(f"lines {line_no + 1}-{line_no + len(lines)}: {exc}") from exc
        count = len(lines)
        del block, lines, data  # not kept while the chunk is loaded
        yield parsed
        line_no += count


def _line_blocks(fh: BinaryIO, rows: int) -> Iterator[bytes]:
    """The rest of the file as the bytes of `rows` lines at a time (the last line may lack its
    newline). Read in large pieces: a readline and a decode per line cost 0.4 s per million."""
    rest = b""
    while True:
        parts, wanted = [], rows
        while wanted:
            piece, rest = rest or fh.read(READ_BYTES), b""
            if not piece:
                break
            ends = piece.count(b"\n")
            if ends < wanted:
                parts.append(piece)
                wanted -= ends
                continue
            cut = int(np.flatnonzero(np.frombuffer(piece, dtype=np.uint8) == ord("\n"))[wanted - 1]) + 1
            parts.append(piece[:cut])
            rest, wanted = piece[cut:], 0
        if not parts:
            return
        block, parts = b"".join(parts), None  # the pieces not kept beside it
        yield block


def _block_lines(block: bytes, first_line: int) -> list[str]:
    """The lines of a block, decoded at once; line by line only to name a line that is not UTF-8
    (a line break is never part of another character: the block decodes if and only if each line does)."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        return [_decode_line(raw, first_line + n).rstrip("\r\n") for n, raw in enumerate(io.BytesIO(block))]
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return [line.rstrip("\r") for line in lines] if "\r" in text else lines


def _decode_line(raw: bytes, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"line {line} is not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the CSV again as UTF-8"
        ) from exc


def _parsed(lines: list[str], *, first_line: int, data: bytes | None = None) -> ParsedExport:
    """Rows and rejections of `lines` (a header, then rows, the first on physical line `first_line`;
    `data`: the rows' lines as UTF-8 bytes, each ended by a line break, if the caller has them).

    Lines in canonical form are checked and converted a column at a time (_canonical_rows); every
    other line goes through the CSV reader and _row, which reads the forms the fast path leaves
    out and words every rejection. Either way a line gives the same row
    (tests/usage/test_generic_csv_fast.py).
    """
    header = _header(lines[0])
    body = lines[1:]
    fast, others = _canonical_rows(header, body, first_line, data)
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


def _canonical_rows(
    header: list[str], body: list[str], first_line: int, data: bytes | None = None
) -> tuple[pd.DataFrame, list[int]]:
    """The rows of the lines in canonical form (plain ASCII cells, no quotes or padding, whole
    counts, plain decimals), converted column by column, and the positions of all other lines.
    The checks here only need to be strict, never complete: what they leave goes to _row.
    `data`: the body as UTF-8, each line ended by a line break, if the caller has it."""
    chunk = _Chunk(body, len(header), data)
    column = {name: n for n, name in enumerate(header)}
    canonical, counts, texts = np.ones(len(chunk.positions), dtype=bool), {}, {}
    for name, n in column.items():
        if name in COUNT_COLUMNS:
            counts[name], fits = chunk.counts(n)
        elif name == "timestamp":
            start, fits, valid = _event_starts(chunk, n)
        elif name == "day":
            fits = chunk.days(n)
        elif name == "cost_usd":
            texts[name] = chunk.texts(n)
            fits = _each_canonical(name, texts[name])
        else:
            fits = chunk.plain_texts(n, TEXT_LIMITS.get(name, TEXT_LIMITS["identity_value"]), empty=name == "account")
        canonical &= fits
    ok = canonical.copy()
    if "email" in column:
        ok &= chunk.holds(column["email"], "@")
    else:
        texts["identity_kind"], texts["identity_value"] = (chunk.texts(column[n]) for n in IDENTITY_COLUMNS[1:])
        identities = zip(texts["identity_kind"], texts["identity_value"], strict=True)
        ok &= np.array([k != "email" or "@" in text for k, text in identities], dtype=bool)
    if "day" in column:
        day = pd.Series(_where(chunk.texts(column["day"]), canonical, "2000-01-01"), dtype=str)
        ok &= pd.to_datetime(day, format="%Y-%m-%d", errors="coerce").notna().to_numpy()
        start, width = (day + "T00:00:00Z").tolist(), "1d"
    else:
        ok &= valid
        width = "event"
    # When every canonical line fails a later check, the empty frame keeps the types that a frame
    # of those lines has (as it did when built of them all): built of the first one, then emptied.
    keep = ok if ok.any() else canonical & (np.cumsum(canonical) == 1)
    if not keep.all():
        taken = np.flatnonzero(keep).tolist()
        chunk.select(keep)
        start = [start[m] for m in taken]
        texts = {name: [values[m] for m in taken] for name, values in texts.items()}
        counts = {name: values[keep] for name, values in counts.items()}
    positions, n = chunk.positions, len(chunk.positions)
    vendor, product = (chunk.texts(column[name], lower=True, shared=True) for name in ("vendor", "product"))
    model = chunk.texts(column["model"], shared=True)
    account = chunk.texts(column["account"], shared=True) if "account" in column else ""
    if "email" in column:
        kind, value = "email", chunk.texts(column["email"], lower=True)
    else:
        kind = texts["identity_kind"]
        value = [text.lower() if k == "email" else text for k, text in zip(kind, texts["identity_value"], strict=True)]
    keys = _natural_keys(start, width, vendor, product, account, kind, value, model) if n else []
    cost = None
    if "cost_usd" in texts:
        # A plain decimal is already in usd_text's form; empty means "price it from the tokens".
        cost = pd.Series([text or None for text in texts["cost_usd"]], index=positions, dtype=object)
    rows = pd.DataFrame(
        {
            "dedup_key": keys,
            "bucket_start": start,
            "bucket_width": width,
            "vendor": vendor,
            "product": product,
            "account": account if n else [],  # (no rows: the types of empty lists, as ever)
            "identity_kind": kind if n else [],
            "identity_value": value,
            "model": model,
            "long_context": False,
            **{name: counts.get(name, 0) for name in COUNT_COLUMNS},
            "cost_usd": cost,
            "location": [f"line {line}" for line in (positions + first_line).tolist()],
        },
        index=positions,
        columns=list(USAGE_COLUMNS),
    )
    if not ok.any():
        return usage_frame_types(rows.iloc[:0]), list(range(len(body)))
    others = np.ones(len(body), dtype=bool)
    others[positions] = False
    # In usage_frame_types' types already (test_generic_csv_fast holds them to the per-row path's).
    return rows, np.flatnonzero(others).tolist()


def _natural_keys(*parts: list[str] | str) -> list[str]:
    """natural_key() of each row's parts (columns, or one text for all rows). The parts are
    printable ASCII without quote or backslash: json.dumps would write them as they are. The JSON
    texts are joined and encoded KEY_ROWS rows at a time, constant parts merged (a join per row
    cost 0.4 s per million rows)."""
    n = len(next(part for part in parts if not isinstance(part, str)))
    constant, columns = '["', []
    for part in parts:
        if isinstance(part, str):
            constant += part + '","'
        else:
            columns.append((constant, part))
            constant = '","'
    end, stride = constant.removesuffix(',"') + "]\n", 2 * len(columns) + 1
    sha256, keys = hashlib.sha256, []
    for at in range(0, n, KEY_ROWS):
        rows = min(KEY_ROWS, n - at)
        pieces = [end] * (stride * rows)
        for m, (text, values) in enumerate(columns):
            pieces[2 * m :: stride] = [text] * rows
            pieces[2 * m + 1 :: stride] = values[at : at + rows]
        texts = "".join(pieces).encode().split(b"\n")
        texts.pop()
        keys += [sha256(text).hexdigest()[:32] for text in texts]
    return keys


def _event_starts(chunk: _Chunk, n: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """bucket_start of each time in column n, where the time is canonical, and where it is also a
    time in range. A time in utc_iso's form is its own bucket_start, checked in NumPy; pandas reads
    the others (then _utc_iso)."""
    start = chunk.texts(n)
    same, valid = chunk.utc_iso_times(n)
    fits = same.copy()
    rest = np.flatnonzero(~same)
    if len(rest):
        fits[rest] = _each_canonical("timestamp", [start[m] for m in rest.tolist()])
        rest = rest[fits[rest]]
        moment = pd.to_datetime(
            pd.Series([start[m] for m in rest.tolist()], dtype=str), utc=True, format="ISO8601", errors="coerce"
        )
        # Years far from ours have edge cases (an offset past year 1): _row decides those.
        valid[rest] = (moment.notna() & moment.dt.year.between(1900, 2200)).to_numpy()
        for m, text in zip(rest[valid[rest]].tolist(), _utc_iso(moment[valid[rest]]), strict=True):
            start[m] = text
    return start, fits, valid


def _where(texts: list[str], ok: np.ndarray, other: str) -> list[str]:
    """The texts, `other` in place of each that failed a check (so that it cannot upset a parser)."""
    return texts if ok.all() else [text if fits else other for text, fits in zip(texts, ok.tolist(), strict=True)]


def _each_canonical(name: str, texts: list[str]) -> np.ndarray:
    """Where the column's cells are in canonical form (CANONICAL_CELLS[name]): one match over the
    whole column, cell by cell only when some cell is not (no canonical cell holds a line break)."""
    cell, column = _canonical_patterns(name)
    if column.fullmatch("\n".join(texts) + "\n"):
        return np.ones(len(texts), dtype=bool)
    return np.array([cell.fullmatch(text) is not None for text in texts], dtype=bool)


@functools.cache
def _canonical_patterns(name: str) -> tuple[re.Pattern, re.Pattern]:
    """CANONICAL_CELLS[name] for one cell, and for a column of them, each followed by a line break."""
    return re.compile(CANONICAL_CELLS[name]), re.compile(rf"(?:(?:{CANONICAL_CELLS[name]})\n)*")


# Bytes no canonical cell holds: controls, quote, backslash, DEL and all that is not ASCII (a comma or
# a line break ends a cell).
NOT_IN_CELLS = np.array([b < 32 or b in b'"\\' or b >= 127 for b in range(256)]) & (np.arange(256) != ord("\n"))
# The two forms utc_iso writes: whole seconds, or six digits of a fraction. "0" stands for a digit.
UTC_ISO_FORMS = ("0000-00-00T00:00:00Z", "0000-00-00T00:00:00.000000Z")
TIME_FIELDS = ((0, 4), (5, 2), (8, 2), (11, 2), (14, 2), (17, 2))  # year, month, day, time: (at, digits)
DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
FRONT, WINDOW = 16, 64  # a chunk's padding: bytes before (of a count) and after (of any cell) read at once
LONG_ROWS = 4096  # cells of a column with a longer one than WINDOW read at a time
KEY_ROWS = 8192  # natural keys made at a time


class _Chunk:
    """The lines of a chunk that have as many cells as the header (each cell a range of bytes of the
    chunk's UTF-8 text), for checks and reads of a whole column at once in numpy: a Python call per
    cell cost a second per million rows for each pass."""

    def __init__(self, body: list[str], width: int, data: bytes | None = None):
        if data is None:
            data = ("\n".join(body) + "\n").encode("utf-8", "surrogatepass") if body else b""
        # Padded, so that the bytes from any position on are a row of a strided view: gathering
        # those rows is ten times faster than gathering bytes by index.
        padded = np.frombuffer(b"".join([bytes(FRONT), data, bytes(WINDOW)]), dtype=np.uint8)
        self.bytes = padded[FRONT : FRONT + len(data)]
        self.windows = sliding_window_view(padded, WINDOW)
        separators = np.flatnonzero((self.bytes == ord(",")) | (self.bytes == ord("\n")))
        ends = np.flatnonzero(self.bytes[separators] == ord("\n"))  # of each line, in separators
        whole = np.diff(ends, prepend=-1) == width
        self.positions = np.flatnonzero(whole)
        # A cell ends at its separator and starts after the one before it (or the line's start).
        self.ends = separators[ends[whole, None] + np.arange(1 - width, 1)]
        self.starts = np.empty_like(self.ends)
        self.starts[:, 1:] = self.ends[:, :-1] + 1
        self.starts[:, 0] = np.concatenate(([0], separators[ends] + 1))[:-1][whole]
        # No byte outside the cells' alphabet (printable ASCII but quote and backslash): the other
        # lines are dropped here, looked for line by line only in a chunk that has one.
        if (
            self.bytes.max(initial=0) >= 127
            or np.count_nonzero(self.bytes < 32) != len(body)
            or b'"' in data
            or b"\\" in data
        ):
            culprits = np.flatnonzero(NOT_IN_CELLS[self.bytes])
            self.select(~np.isin(self.positions, np.searchsorted(separators[ends], culprits)))

    def _rows(self, at: np.ndarray, width: int) -> np.ndarray:
        """The `width` bytes from each position on (from FRONT before the first to WINDOW past the
        last), a row each."""
        return self.windows[at + FRONT, :width]

    def select(self, rows: np.ndarray) -> None:
        """Keep these rows only."""
        self.positions, self.starts, self.ends = self.positions[rows], self.starts[rows], self.ends[rows]

    def texts(self, n: int, *, lower: bool = False, shared: bool = False) -> list[str]:
        """The cells of column n as strings (bytes.lower()d if `lower`): one decode and one split.
        `shared`: a column of a few values (vendor, model), one string for each value."""
        starts, ends = self.starts[:, n], self.ends[:, n]
        if not len(starts):
            return []
        sizes = ends - starts
        most = int(sizes.max())
        if most < WINDOW and not shared and sizes.min() == most:  # all alike long (times)
            cells = self._rows(starts, most + 1)
            cells[:, most] = ord("\n")
            return self._split(cells.tobytes(), lower)
        if most < WINDOW:
            # Each cell and what follows it, in whole words; past the cell, NULs (deleted below).
            cells = self._rows(starts, min(most // 8 * 8 + 8, WINDOW))
            cells *= np.arange(cells.shape[1]) < sizes[:, None]
            if shared:
                # Rows alike are the same text: told apart by a hash of their words, checked.
                words = cells.view(np.uint64)
                key = words[:, 0].copy()
                for at in range(1, words.shape[1]):
                    key *= np.uint64(0x9E3779B97F4A7C15)
                    key ^= words[:, at]
                codes, distinct = pd.factorize(key)
                first = np.empty(len(distinct), dtype=np.int64)
                first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
                if (cells == cells[first[codes]]).all() and len(first) * 4 <= len(codes):
                    values = np.array(self._decode(cells[first], sizes[first], lower), dtype=object)
                    return values[codes].tolist()
            return self._decode(cells, sizes, lower)
        # Each cell with its separator, gathered, the separators then made line breaks; some rows
        # at a time, the index taking 8 bytes for each byte.
        raw = []
        for at in range(0, len(starts), LONG_ROWS):
            lengths = sizes[at : at + LONG_ROWS] + 1
            ends_out = np.cumsum(lengths)
            cells = self.bytes[
                np.arange(ends_out[-1]) + np.repeat(starts[at : at + LONG_ROWS] - ends_out + lengths, lengths)
            ]
            cells[ends_out - 1] = ord("\n")
            raw.append(cells.tobytes())
        return self._split(b"".join(raw), lower)

    def _decode(self, cells: np.ndarray, sizes: np.ndarray, lower: bool) -> list[str]:
        """The texts of rows of bytes (each the text's `sizes` bytes, then NULs)."""
        cells[np.arange(len(sizes)), sizes] = ord("\n")
        return self._split(cells.tobytes().translate(None, b"\0"), lower)

    @staticmethod
    def _split(raw: bytes, lower: bool) -> list[str]:
        texts = (raw.lower() if lower else raw).decode("ascii").split("\n")
        texts.pop()
        return texts

    def counts(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Column n's whole numbers of up to 15 digits (empty is 0), and where a cell is one."""
        starts, ends = self.starts[:, n], self.ends[:, n]
        sizes = ends - starts
        fits = sizes <= 15  # up to MAX_COUNT
        most = int(sizes[fits].max(initial=0))
        if not most:
            return np.zeros(len(sizes), dtype=np.int64), fits
        chars = self._rows(ends - most, most)
        chars[np.arange(most) < most - sizes[:, None]] = ord("0")  # before the cell
        return _number(chars, 0, most), fits & _each_row(chars - np.uint8(ord("0")) < 10)

    def plain_texts(self, n: int, most: int, *, empty: bool) -> np.ndarray:
        """Where column n's cells are canonical text (_text), the bytes being in the alphabet:
        not padded, 1 to `most` characters (or empty, if `empty`)."""
        starts, ends = self.starts[:, n], self.ends[:, n]
        sizes = ends - starts
        # An empty cell's first and last bytes are separators.
        fits = (self.bytes[starts] != ord(" ")) & (self.bytes[ends - 1] != ord(" ")) & (sizes <= most)
        return fits if empty else fits & (sizes > 0)

    def holds(self, n: int, character: str) -> np.ndarray:
        """Where column n's cells hold this (ASCII) character."""
        found = np.flatnonzero(self.bytes == ord(character))
        return np.searchsorted(found, self.ends[:, n]) > np.searchsorted(found, self.starts[:, n])

    def days(self, n: int) -> np.ndarray:
        """Where column n's cells are YYYY-MM-DD in form (CANONICAL_CELLS["day"])."""
        return self._form(n, "0000-00-00")[0]

    def utc_iso_times(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Where column n's cells are times written as utc_iso writes them (then each is its own
        bucket_start), and where they are also times pandas reads in 1900-2200 (_valid_times)."""
        same = np.zeros(len(self.positions), dtype=bool)
        valid = same.copy()
        for form in UTC_ISO_FORMS:
            fits, rows, chars = self._form(n, form)
            if not len(rows):
                continue
            if chars.shape[1] > 20:  # utc_iso writes no fraction of all zeros
                fits[rows] &= _number(chars, 20, 6) > 0
            same |= fits
            valid[rows] = fits[rows] & _valid_times(*(_number(chars, at, size) for at, size in TIME_FIELDS))
        return same, valid

    def _form(self, n: int, form: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where column n's cells are in this form ("0" stands for a digit), the rows of its length
        and their bytes."""
        lowest, span = _form_bounds(form)
        starts, ends = self.starts[:, n], self.ends[:, n]
        rows = np.flatnonzero(ends - starts == len(lowest))
        chars = self._rows(starts[rows], len(lowest))
        fits = np.zeros(len(starts), dtype=bool)
        fits[rows] = _each_row(chars - lowest <= span)
        return fits, rows, chars


def _each_row(ok: np.ndarray) -> np.ndarray:
    """ok.all(axis=1), row by row only when some row fails: NumPy reduces along short rows slowly."""
    return np.ones(len(ok), dtype=bool) if ok.all() else ok.all(axis=1)


@functools.cache
def _form_bounds(form: str) -> tuple[np.ndarray, np.ndarray]:
    """Each byte of the form ("0" stands for a digit) as the lowest byte allowed and how many more are."""
    lowest = np.frombuffer(form.encode(), dtype=np.uint8)
    return lowest, np.where(lowest == ord("0"), 9, 0).astype(np.uint8)


def _number(chars: np.ndarray, at: int, size: int) -> np.ndarray:
    """The whole number each row's digits at..at+size write (ASCII bytes)."""
    number = chars[:, at].astype(np.int64) - ord("0")
    for digit in range(at + 1, at + size):
        number *= 10
        number += chars[:, digit]
        number -= ord("0")
    return number


def _valid_times(year, month, day, hour, minute, second) -> np.ndarray:
    """Whether each time is one that pandas reads (a real day, hours 0-23, minutes and seconds
    0-59), in a year 1900-2200."""
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = DAYS_IN_MONTH[np.clip(month, 0, 12)] + (leap & (month == 2))
    return (
        (year >= 1900)
        & (year <= 2200)
        & (month >= 1)
        & (month <= 12)
        & (day >= 1)
        & (day <= month_days)
        & (hour < 24)
        & (minute < 60)
        & (second < 60)
    )


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
