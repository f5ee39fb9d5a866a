"""Readers shared by the importers of line-based and archived exports.

CSV located by header name, NDJSON / JSON-array records, zip archives of local logs, gzip,
and the time and money notations the vendors use. Every reader either returns what it could
read plus Rejections with a location, or raises ParseError when the file as a whole is unusable
(truncated, not UTF-8, not a zip): the whole-file failures name the problem for a person.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from .base import ParseError, Rejection, load_json, non_negative_decimal, utc_iso

ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # an archive with members / an empty archive
GZIP_MAGIC = b"\x1f\x8b"
# A zip or gzip bomb stops here instead of in the worker's memory.
MAX_UNPACKED_BYTES = 2 * 1024**3
DAY_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
THOUSANDS = re.compile(r"-?\d{1,3}(,\d{3})+(\.\d*)?")
EPOCH_MS_FLOOR = 10**11  # 1973-03-03 in milliseconds, but 5138 AD in seconds


def decode_text(raw: bytes, *, what: str) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x}); export the {what} again as UTF-8"
        ) from exc
    if not text.strip():
        raise ParseError("the file is empty")
    return text


def header_names(head: bytes, *, lower: bool = True) -> set[str]:
    """The column names on a CSV's first line, for detect_bytes (quotes and spaces stripped)."""
    first = head.decode("utf-8", errors="replace").splitlines()[:1]
    names = {name.strip().strip('"') for name in first[0].split(",")} if first else set()
    return {name.lower() for name in names} if lower else names


def is_zip(raw: bytes) -> bool:
    return raw[:4] in ZIP_MAGICS


def gunzip(raw: bytes) -> bytes:
    """The content of a .gz file (S3 delivers Bedrock logs and BigQuery exports gzipped)."""
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        data = inflater.decompress(raw, MAX_UNPACKED_BYTES)
    except zlib.error as exc:
        raise ParseError(f"a gzip file that cannot be unpacked ({exc}); it may be truncated") from exc
    if inflater.unconsumed_tail:
        raise ParseError(f"the gzip file unpacks to more than {MAX_UNPACKED_BYTES >> 30} GiB; split it")
    if not inflater.eof:
        raise ParseError("the gzip file is truncated: it stops before its end marker")
    return data


# --- CSV ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvRow:
    line: int  # physical line where the row starts; the header is line 1
    values: dict[str, str]  # header name -> stripped cell


def read_csv(raw: bytes, *, what: str) -> tuple[list[str], list[CsvRow], list[Rejection]]:
    """The header, the rows as dicts, and a rejection for each row with the wrong number of cells.

    A last row cut short with no line end means the download stopped: the whole file fails.
    """
    text = decode_text(raw, what=what)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader)]
        rows, rejections = [], []
        line = reader.line_num + 1
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue  # a blank line holds no data
            if len(cells) != len(header):
                if line > text.count("\n") + 1 and not text.endswith(("\n", "\r")) and len(cells) < len(header):
                    raise ParseError(
                        f"the file looks truncated: its last line ({start}) has {len(cells)} of "
                        f"{len(header)} columns and no line end"
                    )
                reason = f"{len(cells)} values for {len(header)} columns"
                rejections.append(Rejection(f"line {start}", reason, ",".join(cells)[:500]))
                continue
            rows.append(CsvRow(start, {name: cell.strip() for name, cell in zip(header, cells, strict=True)}))
    except csv.Error as exc:
        hint = " (the file looks truncated: a quoted value never ends)" if "end of data" in str(exc) else ""
        raise ParseError(f"the CSV cannot be read at line {reader.line_num}: {exc}{hint}") from exc
    return header, rows, rejections


def find_columns(
    header: list[str], wanted: dict[str, tuple[str, ...]], *, required: tuple[str, ...], what: str
) -> dict[str, str]:
    """Map our names to the file's column names, matching any alias case-insensitively.

    Exports change their columns between versions, so columns are found by name, never position.
    """
    by_folded = {" ".join(name.lower().split()): name for name in header}
    found = {}
    for ours, aliases in wanted.items():
        for alias in aliases:
            if alias.lower() in by_folded:
                found[ours] = by_folded[alias.lower()]
                break
    missing = [wanted[name][0] for name in required if name not in found]
    if missing:
        raise ParseError(
            f"header: missing column(s) {', '.join(repr(m) for m in missing)} for a {what}; "
            f"the file has: {', '.join(header)}"
        )
    return found


# --- JSON records -------------------------------------------------------------------------


def read_records(raw: bytes, *, what: str, envelope: tuple[str, ...] = ("data",)) -> tuple[list, list[Rejection]]:
    """(location, record) pairs from NDJSON (one object a line) or a JSON array / envelope.

    NDJSON: a line that is not JSON is rejected; a last line cut short with no line end
    fails the whole file (the download stopped).
    """
    text = decode_text(raw, what=what)
    stripped = text.lstrip()
    if stripped.startswith("[") or (stripped.startswith("{") and _is_one_document(text)):
        try:
            doc = load_json(raw, what=what)
        except ParseError:
            # NDJSON whose first line is broken reads as a broken document: when objects follow
            # that line, the lines are read below and it alone is rejected.
            if stripped.startswith("[") or first_records(raw, skip_broken=True) is None:
                raise
        else:
            if isinstance(doc, list):
                return [(f"[{i}]", item) for i, item in enumerate(doc)], []
            for key in envelope:
                if isinstance(doc, dict) and isinstance(doc.get(key), list):
                    return [(f"{key}[{i}]", item) for i, item in enumerate(doc[key])], []
            return [("line 1", doc)], []
    records, rejections = [], []
    lines = text.split("\n")  # not splitlines(): JSON strings may hold U+2028 and other breaks
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            if number == len(lines):  # the file does not end with a line end
                raise ParseError(
                    f"the file looks truncated: its last line ({number}) stops mid-record ({exc.msg})"
                ) from exc
            rejections.append(Rejection(f"line {number}", f"not valid JSON: {exc.msg}", line[:500]))
    return records, rejections


def first_records(raw: bytes, limit: int = 5, *, skip_broken: bool = False) -> list[dict] | None:
    """The first objects of a line-delimited JSON file, or None when it is not one (for detection).

    skip_broken: lines that are not JSON are passed over (the importer rejects them), for a file
    already known not to be one JSON document.
    """
    records = []
    for line in raw[: 1 << 20].splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if skip_broken:
                continue
            break
        if not isinstance(record, dict):
            return None
        records.append(record)
        if len(records) == limit:
            break
    # One complete line alone is an ordinary JSON document: the JSON detectors see it first.
    return records if len(records) >= (1 if skip_broken else 2) else None


def _is_one_document(text: str) -> bool:
    """A JSON object spread over lines (pretty-printed), not one object per line."""
    first = text.lstrip().split("\n", 1)[0]
    try:
        json.loads(first)
    except json.JSONDecodeError:
        return True
    return "\n" not in text.strip()


def as_object(record: object, name: str = "record") -> dict:
    if not isinstance(record, dict):
        raise ValueError(f"{name} is not an object")
    return record


# --- zip archives of logs ---------------------------------------------------------------


def open_zip(raw: bytes) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as exc:
        raise ParseError(
            f"not a readable zip archive ({exc}); a truncated download loses the archive's index, "
            "which sits at its end: zip the folder again"
        ) from exc
    if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED_BYTES:
        raise ParseError(f"the zip archive unpacks to more than {MAX_UNPACKED_BYTES >> 30} GiB; split it")
    return archive


def zip_members(archive: zipfile.ZipFile, suffix: str) -> list[str]:
    """Member names ending in suffix, in name order; folders, macOS resource forks and other
    stray files (notes, settings) in the archive are not logs and are left alone."""
    names = [
        info.filename
        for info in archive.infolist()
        if not info.is_dir() and info.filename.endswith(suffix) and "__MACOSX/" not in info.filename
    ]
    return sorted(names)


def read_member(archive: zipfile.ZipFile, name: str) -> str:
    try:
        data = archive.read(name)
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as exc:
        raise ParseError(f"zip member {name} cannot be read ({exc}); the archive looks damaged or truncated") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"zip member {name} is not UTF-8 text (byte {exc.start})") from exc


def peek_member(archive: zipfile.ZipFile, name: str, limit: int = 3) -> list[dict]:
    """The first few JSON objects of a member, for detection; [] when unreadable."""
    found = []
    try:
        with archive.open(name) as member:
            for line in member:
                try:
                    record = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue
                if isinstance(record, dict):
                    found.append(record)
                if len(found) == limit:
                    break
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError):
        return found
    return found


def log_files(raw: bytes, *, suffix: str, what: str) -> Iterator[tuple[str, str]]:
    """(name, text) of each log in a zip archive, or of the one log that raw is.

    Locations read "member path:line N" for a member, "line N" for a bare log (name "")."""
    if is_zip(raw):
        archive = open_zip(raw)
        names = zip_members(archive, suffix)
        if not names:
            raise ParseError(f"the zip archive holds no {suffix} files: is it a folder of {what}?")
        for name in names:
            yield name, read_member(archive, name)
    else:
        yield "", decode_text(raw, what=what)


def json_lines(name: str, text: str) -> Iterator[tuple[str, dict | None, str]]:
    """(location, object or None, reason) for each non-blank line of a JSONL log.

    A log can be written to while it is zipped, so a broken line is rejected, never fatal."""
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        location = f"{name}:line {number}" if name else f"line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield location, None, f"not valid JSON ({exc.msg}); a log still being written ends mid-line"
            continue
        if not isinstance(record, dict):
            yield location, None, "the line is not a JSON object"
            continue
        yield location, record, ""


# --- times and money -----------------------------------------------------------------------


def iso_time(value: object, name: str) -> str:
    """An ISO-8601 time as bucket_start (UTC, Z); one without an offset is taken as UTC."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"{name} is missing")
    if not isinstance(value, str):
        raise ValueError(f"{name} is not an ISO-8601 time: {value!r}")
    try:
        moment = datetime.fromisoformat(value.strip().replace(" UTC", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} is not an ISO-8601 time: {value!r}") from None
    return utc_iso(moment)


def epoch_ms_time(value: object, name: str) -> str:
    """Epoch milliseconds, as a number or a string of digits (Cursor sends strings)."""
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not text.isdigit():
        raise ValueError(f"{name} is not epoch milliseconds: {value!r}")
    if int(text) < EPOCH_MS_FLOOR:
        # Seconds read as milliseconds land in January 1970, and their day locks span 56 years.
        raise ValueError(f"{name} looks like epoch seconds, not milliseconds: {value!r}")
    seconds, millis = divmod(int(text), 1000)
    try:
        moment = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{name} is out of range: {value!r}") from None
    return utc_iso(moment.replace(microsecond=millis * 1000))


def unix_day(value: int, name: str) -> str:
    """The UTC day (YYYY-MM-DD) of unix seconds; ValueError for a number no date has (10**20)."""
    try:
        return datetime.fromtimestamp(value, UTC).date().isoformat()
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{name} is not a unix time in seconds: {value!r}") from None


def day_start(value: object, name: str) -> str:
    """A YYYY-MM-DD day (or a time on it) as its UTC midnight."""
    text = value.strip() if isinstance(value, str) else ""
    try:
        if DAY_PATTERN.fullmatch(text):
            return f"{date.fromisoformat(text).isoformat()}T00:00:00Z"
        return iso_time(text, name)[:10] + "T00:00:00Z"
    except ValueError:
        raise ValueError(f"{name} is not a date (YYYY-MM-DD): {value!r}") from None


def dollars(value: object, name: str) -> Decimal:
    """A dollar amount as exports print it: 12.5, "12.50", "$1,234.50"."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str):
        text = text.replace("$", "", 1).strip()
        if text.upper().endswith("USD"):
            text = text[:-3].strip()
        # "1,234.50" groups thousands; "12,90" is a decimal comma, not $1,290: left to be rejected.
        if THOUSANDS.fullmatch(text):
            text = text.replace(",", "")
    return non_negative_decimal(text, name)
