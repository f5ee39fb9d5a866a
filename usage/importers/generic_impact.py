"""Tokenboard's own impact CSV, `email,day,metric,value`, for outcomes no importer reads (docs/impact.md).

Impact source. One row per person, day and metric; `metric` is one of IMPACT_METRICS, `value`
a whole non-negative count. The natural key is (email, day, metric): a later file restating a
day replaces it. Each bad row becomes a rejection at "line N" (the header is line 1).
"""

from __future__ import annotations

from datetime import date

from .base import IMPACT_METRICS, ParsedExport, ParseError, Rejection, impact_frame, natural_key, non_negative_int
from .readers import DAY_PATTERN, find_columns, header_names, read_csv

FORMAT = "generic_impact"
DATASET = "generic_impact"
COLUMNS = {name: (name,) for name in ("email", "day", "metric", "value")}


DETECT_COLUMNS = ("email", "day", "metric", "value")
WHAT = "an impact CSV"


def detect_bytes(head: bytes) -> bool:
    return set(DETECT_COLUMNS) <= header_names(head)


def parse(raw: bytes) -> ParsedExport:
    header, csv_rows, rejections = read_csv(raw, what="impact CSV")
    columns = find_columns(header, COLUMNS, required=tuple(COLUMNS), what="impact CSV")
    rows = []
    for csv_row in csv_rows:
        location = f"line {csv_row.line}"
        values = {ours: csv_row.values[theirs] for ours, theirs in columns.items()}
        try:
            rows.append(_row(values, location))
        except ValueError as exc:
            rejections.append(Rejection(location, str(exc), ",".join(csv_row.values.values())[:500]))
    if not rows and not rejections:
        raise ParseError("the impact CSV has a header but no rows")
    return ParsedExport(FORMAT, DATASET, "impact", impact_frame(rows), rejections)


def _row(values: dict[str, str], location: str) -> dict:
    email = values["email"].lower()
    if "@" not in email:
        raise ValueError(f"email is not an email address: {values['email']!r}")
    try:
        if not DAY_PATTERN.fullmatch(values["day"]):
            raise ValueError
        day = date.fromisoformat(values["day"]).isoformat()
    except ValueError:
        raise ValueError(f"day is not a date in YYYY-MM-DD form: {values['day']!r}") from None
    metric = values["metric"].lower()
    if metric not in IMPACT_METRICS:
        raise ValueError(f"metric {values['metric']!r} is not one of: {', '.join(IMPACT_METRICS)}")
    if not values["value"]:
        raise ValueError("value is empty")
    return {
        "dedup_key": natural_key(email, day, metric),
        "day": day,
        "window_start": None,
        "source": "generic",
        "identity_kind": "email",
        "identity_value": email,
        "metric": metric,
        "value": non_negative_int(values["value"], "value"),
        "location": location,
    }
