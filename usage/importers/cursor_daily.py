"""Cursor Admin API daily usage data (`POST /teams/daily-usage-data`, or the org-level
`/organizations/daily-usage-data`), one page or several concatenated as a JSON array.

Impact source, one row per person, day and metric (docs/impact.md). It carries no tokens and no
dollars, so it adds no usage. Quirks:
- `date` is epoch milliseconds (a number, or a string of digits) at the day's start: read as its
  UTC day. The org-level variant also sends `day` (`YYYY-MM-DD`), `userId` and `teamId`; `day`
  wins when both are there;
- every member gets a row every day: an inactive day (`isActive: false`, all counts 0) gives no
  rows, and a count of 0 gives no row either (Cursor's counts for a day only grow, so a later
  export never has to replace a count with 0);
- the identity is `email`, lower-cased; an org-level row with only `userId` is kept under that
  (kind `user_id`): unmapped until an admin maps it on Imports (Unmapped authors). A row with
  neither, or with a count that is not a whole number >= 0, is rejected with its location;
- the key is (email, day, metric), or ("user_id", userId, day, metric): a later export of an
  overlapping range replaces the days.
"""

from __future__ import annotations

from datetime import date

from .base import ParsedExport, ParseError, Rejection, impact_frame, load_json, natural_key, non_negative_int, raw_text
from .readers import as_object, epoch_ms_time

FORMAT = "cursor_daily"
DATASET = "cursor_daily"
# Ours <- the sum of Cursor's fields.
METRICS: dict[str, tuple[str, ...]] = {
    "ai_lines_added": ("acceptedLinesAdded",),
    "ai_lines_removed": ("acceptedLinesDeleted",),
    "ai_edits_accepted": ("totalAccepts",),
    "ai_edits_rejected": ("totalRejects",),
    "ai_tabs_accepted": ("totalTabsAccepted",),
    "ai_requests": ("composerRequests", "chatRequests", "agentRequests", "cmdkUsages"),
}
# Fields only a daily usage row has (an events page has "usageEvents", not "data").
DISTINCTIVE = {"acceptedLinesAdded", "totalTabsShown", "totalTabsAccepted", "composerRequests", "isActive"}


def detect(doc: object) -> bool:
    pages = doc if isinstance(doc, list) else [doc]
    if not pages or not all(isinstance(p, dict) and isinstance(p.get("data"), list) for p in pages):
        return False
    first = next((r for p in pages for r in p["data"] if isinstance(r, dict)), None)
    return first is not None and len(DISTINCTIVE & first.keys()) >= 2


def parse(raw: bytes) -> ParsedExport:
    doc = load_json(raw, what="Cursor daily usage data")
    if not detect(doc):
        raise ParseError(
            'expected an object with a "data" list of daily usage rows (acceptedLinesAdded, totalTabsShown, ...), '
            "or a list of such pages"
        )
    pages = doc if isinstance(doc, list) else [doc]
    rows, rejections = [], []
    for p, page in enumerate(pages):
        prefix = f"[{p}]." if isinstance(doc, list) else ""
        for i, record in enumerate(page["data"]):
            location = f"{prefix}data[{i}]"
            try:
                rows.extend(_rows(as_object(record, "row"), location))
            except (ValueError, TypeError) as exc:
                rejections.append(Rejection(location, str(exc), raw_text(record)))
    return ParsedExport(FORMAT, DATASET, "impact", impact_frame(rows), rejections)


def _rows(record: dict, location: str) -> list[dict]:
    kind, identity = _identity(record)
    day = _day(record)
    counts = {
        metric: sum(non_negative_int(record.get(name), name) for name in fields) for metric, fields in METRICS.items()
    }
    return [
        {
            # The email key keeps its old form: exports imported before user_id rows were kept replace their rows.
            "dedup_key": natural_key(identity, day, metric)
            if kind == "email"
            else natural_key(kind, identity, day, metric),
            "day": day,
            "window_start": None,
            "source": "cursor",
            "identity_kind": kind,
            "identity_value": identity,
            "metric": metric,
            "value": value,
            "location": location,
        }
        for metric, value in counts.items()
        if value
    ]


def _identity(record: dict) -> tuple[str, str]:
    email = record.get("email")
    if isinstance(email, str) and email.strip():
        email = email.strip().lower()
        if "@" not in email:
            raise ValueError(f"email is not an email address: {record['email']!r}")
        return "email", email
    user_id = record.get("userId")
    if isinstance(user_id, str) and user_id.strip():
        return "user_id", user_id.strip()
    raise ValueError("email and userId are both missing: no one to attribute the day to")


def _day(record: dict) -> str:
    if record.get("day") is not None:
        text = record["day"]
        try:
            return date.fromisoformat(str(text)[:10]).isoformat()
        except ValueError:
            raise ValueError(f"day is not a date (YYYY-MM-DD): {text!r}") from None
    if record.get("date") is None:
        raise ValueError("date is missing")
    return epoch_ms_time(record["date"], "date")[:10]
