"""Cursor dashboard "Export CSV" of usage events (undocumented; columns change by version).

Attribution source, one row per event. Quirks:
- columns are found by header name: older exports lack `User`, `Cloud Agent ID` and
  `Automation ID`; some have `Requests` instead of `Cost`, or add `Cost to you` (which wins:
  it is what the team pays);
- `Cost` is dollars, written `$0.01`, `0.12`, `Free` or `Included` (the last two cost $0: the
  seat pays); a `Kind` of "Errored, No Charge" / "Aborted, Not Charged" costs $0 too;
- `Input (w/ Cache Write)` includes `Input (w/o Cache Write)`: cache writes are the difference
  (counted as 5-minute writes), and `Total Tokens` = w/ cache write + `Cache Read` + output.
  An export where the four token columns add up to `Total Tokens` instead is read that way;
- an export without a `User` column is one person's own: the owner is given at import
  (`import_usage --engineer EMAIL`), like local logs.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from .base import ParsedExport, Rejection, natural_key, non_negative_int, usage_frame, usd_text
from .readers import CsvRow, dollars, find_columns, header_names, iso_time, read_csv

FORMAT = "cursor_csv"
DATASET = "cursor_csv"
KIND = "csv"
COLUMNS = {
    "date": ("Date", "Timestamp"),
    "user": ("User", "Email", "User Email"),
    "kind": ("Kind",),
    "model": ("Model",),
    "max_mode": ("Max Mode",),
    "input_with_writes": ("Input (w/ Cache Write)",),
    "input_uncached": ("Input (w/o Cache Write)",),
    "cache_read": ("Cache Read",),
    "output": ("Output Tokens", "Output"),
    "total": ("Total Tokens",),
    "cost": ("Cost to you", "Cost"),
    "requests": ("Requests",),
}
REQUIRED = ("date", "model", "input_with_writes", "input_uncached", "cache_read", "output")
FREE_WORDS = ("included", "free", "no charge", "not charged", "-")


DETECT_COLUMNS = ("Date", "Model", "Input (w/o Cache Write)", "Cache Read")  # case-insensitive
WHAT = "a Cursor usage CSV export"


def detect_bytes(head: bytes) -> bool:
    return {name.lower() for name in DETECT_COLUMNS} <= header_names(head)


def parse(raw: bytes) -> ParsedExport:
    header, csv_rows, rejections = read_csv(raw, what="Cursor usage CSV")
    columns = find_columns(header, COLUMNS, required=REQUIRED, what="Cursor usage CSV export")
    rows = []
    for csv_row in csv_rows:
        location = f"line {csv_row.line}"
        try:
            rows.append(_row(csv_row, columns, location))
        except ValueError as exc:
            rejections.append(Rejection(location, str(exc), ",".join(csv_row.values.values())[:500]))
    return ParsedExport(FORMAT, DATASET, "attribution", usage_frame(rows), rejections)


def _row(csv_row: CsvRow, columns: dict[str, str], location: str) -> dict:
    def cell(name: str) -> str:
        return csv_row.values.get(columns[name], "") if name in columns else ""

    start = iso_time(cell("date"), columns["date"])
    counts = _tokens(cell, columns)
    user = cell("user").lower()
    # No User column: a personal export, whose owner the uploader names (identity_kind "").
    kind, value = ("email", user) if user else ("", "")
    if "user" in columns and not user:
        raise ValueError(f"{columns['user']} is empty: no one to attribute the row to")
    model, event_kind = cell("model"), cell("kind")
    return {
        "dedup_key": natural_key(start, value, model, event_kind, cell("max_mode"), *counts.values()),
        "bucket_start": start,
        "bucket_width": "event",
        "vendor": "cursor",
        "product": "cursor",
        "account": "",
        "identity_kind": kind,
        "identity_value": value,
        "model": model,
        "long_context": False,
        **counts,
        "requests": _count(cell("requests"), "Requests") if "requests" in columns else 1,
        "cost_usd": _cost(cell("cost"), event_kind, columns.get("cost", "Cost")) if "cost" in columns else None,
        "location": location,
    }


def _tokens(cell, columns: dict[str, str]) -> dict:
    def count(name: str) -> int:
        # Not 0: an empty uncached input read as 0 would move those tokens into cache writes.
        if not cell(name):
            raise ValueError(f"{columns[name]} is empty")
        return _count(cell(name), columns[name])

    with_writes, uncached = count("input_with_writes"), count("input_uncached")
    cache_read, output = count("cache_read"), count("output")
    total = _count(cell("total"), columns["total"]) if "total" in columns and cell("total") else None
    if total is not None and total == with_writes + uncached + cache_read + output and uncached:
        writes = with_writes  # this version's "w/ Cache Write" column holds the writes alone
    elif total is not None and total != with_writes + cache_read + output:
        raise ValueError(
            f"Total Tokens {total} is neither the sum of the token columns nor of input, cache read and output"
        )
    elif with_writes < uncached:
        raise ValueError(f"Input (w/ Cache Write) {with_writes} is less than Input (w/o Cache Write) {uncached}")
    else:
        writes = with_writes - uncached
    return {
        "input_uncached_tokens": uncached,
        "cache_read_tokens": cache_read,
        "cache_write_5m_tokens": writes,
        "cache_write_1h_tokens": 0,
        "output_tokens": output,
    }


def _cost(text: str, event_kind: str, name: str) -> str | None:
    if any(word in event_kind.lower().replace("_", " ") for word in ("no charge", "not charged")):
        return "0"
    if not text:
        return None  # no cost given: priced from the tokens
    if text.lower() in FREE_WORDS:
        return "0"
    return usd_text(dollars(text, name))


def _count(text: str, name: str) -> int:
    """A whole non-negative number; "1,234" is fine, an empty cell is 0 (Requests)."""
    text = text.replace(",", "")
    if not text:
        return 0
    try:
        Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{name} is not a number: {text!r}") from None
    return non_negative_int(text, name)
