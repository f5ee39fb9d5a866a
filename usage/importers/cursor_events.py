"""Cursor Admin API usage events (`POST /teams/filtered-usage-events`), one page or several.

Attribution source, one row per event, vendor-reported cost. Quirks:
- `timestamp` is a **string** of epoch milliseconds;
- `tokenUsage` is present only when `isTokenBasedCall` is true; its `totalCents` is a
  fractional number of **cents** (`chargedCents`, when newer exports send it, adds Cursor's
  token fee and is what the team pays, so it wins);
- `inputTokens` excludes cache: `cacheWriteTokens` (counted as 5-minute writes) and
  `cacheReadTokens` come separately;
- events of an "Included…" / "Free" / "…No Charge" kind, or `isChargeable: false`, cost $0:
  the seat pays for them. They keep their tokens and count as a request.
"""

from __future__ import annotations

from .base import (
    ParsedExport,
    ParseError,
    Rejection,
    load_json,
    natural_key,
    non_negative_decimal,
    non_negative_int,
    raw_text,
    usage_frame,
    usd_text,
)
from .readers import as_object, epoch_ms_time

FORMAT = "cursor_events"
# A result that has most of these but not all is this format missing some (registry names them).
DETECT_COLUMNS = ("timestamp", "model", "kind", "isTokenBasedCall")
WHAT = "Cursor usage events"
DATASET = "cursor_events"
FREE_KIND_WORDS = ("included", "free", "no charge", "not charged")


def detect(doc: object) -> bool:
    pages = doc if isinstance(doc, list) else [doc]
    return bool(pages) and all(isinstance(p, dict) and isinstance(p.get("usageEvents"), list) for p in pages)


def parse(raw: bytes) -> ParsedExport:
    doc = load_json(raw, what="Cursor usage events")
    if not detect(doc):
        raise ParseError('expected an object with a "usageEvents" list (or a list of such pages)')
    pages = doc if isinstance(doc, list) else [doc]
    rows, rejections = [], []
    for p, page in enumerate(pages):
        prefix = f"[{p}]." if isinstance(doc, list) else ""
        for i, event in enumerate(page["usageEvents"]):
            location = f"{prefix}usageEvents[{i}]"
            try:
                rows.append(_row(as_object(event, "event"), location))
            except (ValueError, TypeError, AttributeError) as exc:
                rejections.append(Rejection(location, str(exc), raw_text(event)))
    return ParsedExport(FORMAT, DATASET, "attribution", usage_frame(rows), rejections)


def _row(event: dict, location: str) -> dict:
    start = epoch_ms_time(event.get("timestamp"), "timestamp")
    kind, value = _identity(event)
    model = str(event.get("model") or "")
    event_kind = str(event.get("kind") or "")
    usage = event.get("tokenUsage")
    if event.get("isTokenBasedCall") and not isinstance(usage, dict):
        raise ValueError("isTokenBasedCall is true but tokenUsage is missing")
    usage = usage if isinstance(usage, dict) else {}
    counts = {
        "input_uncached_tokens": non_negative_int(usage.get("inputTokens"), "tokenUsage.inputTokens"),
        "cache_read_tokens": non_negative_int(usage.get("cacheReadTokens"), "tokenUsage.cacheReadTokens"),
        "cache_write_5m_tokens": non_negative_int(usage.get("cacheWriteTokens"), "tokenUsage.cacheWriteTokens"),
        "cache_write_1h_tokens": 0,
        "output_tokens": non_negative_int(usage.get("outputTokens"), "tokenUsage.outputTokens"),
    }
    key = natural_key(start, kind, value, model, event_kind, event.get("maxMode"), *counts.values())
    return {
        "dedup_key": key,
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
        "requests": 1,
        "cost_usd": _cost(event, usage, event_kind),
        "location": location,
    }


def _identity(event: dict) -> tuple[str, str]:
    email = str(event.get("userEmail") or event.get("email") or "").strip().lower()
    if email:
        return "email", email
    user_id = str(event.get("userId") or "").strip()
    if user_id:
        return "user_id", user_id
    raise ValueError("userEmail is missing: no one to attribute the event to")


def _cost(event: dict, usage: dict, event_kind: str) -> str:
    # Kinds are free text ("Included in Business") or enum names ("USAGE_EVENT_KIND_INCLUDED_…").
    kind_words = event_kind.lower().replace("_", " ")
    if event.get("isChargeable") is False or any(word in kind_words for word in FREE_KIND_WORDS):
        return "0"
    for field in ("chargedCents", "totalCents"):
        cents = usage.get(field, event.get(field))
        if cents is not None:
            return usd_text(non_negative_decimal(cents, f"tokenUsage.{field}") / 100)
    raise ValueError(
        f"a {event_kind or 'usage-based'} event without tokenUsage.totalCents: its price is not in the export"
    )
