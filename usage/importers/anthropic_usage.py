"""Anthropic Admin API usage report (`/v1/organizations/usage_report/messages`).

Attribution source with tokens only: cost is computed from prices. Quirks:
- `uncached_input_tokens` excludes cache reads and writes, which come in their own fields;
- cache writes are split into 5-minute and 1-hour writes (priced 1.25x and 2x input);
- `context_window: "200k-1M"` marks a bucket billed at the long-context tier.
"""

from __future__ import annotations

from datetime import datetime

from .base import ParsedExport, ParseError, Rejection, load_json, natural_key, non_negative_int, usage_frame
from .readers import iso_time

FORMAT = "anthropic_usage"
# A result that has most of these but not all is this format missing some (registry names them).
DETECT_COLUMNS = ("uncached_input_tokens", "cache_creation", "cache_read_input_tokens", "output_tokens")
WHAT = "an Anthropic usage report"
DATASET = "anthropic_usage"


def detect(doc: object) -> bool:
    first = _first_result(doc)
    return first is not None and "uncached_input_tokens" in first


def parse(raw: bytes) -> ParsedExport:
    doc = load_json(raw, what="Anthropic usage report")
    buckets = _buckets(doc)
    rows, rejections = [], []
    for b, bucket in enumerate(buckets):
        start = bucket.get("starting_at") if isinstance(bucket, dict) else None
        results = bucket.get("results") if isinstance(bucket, dict) else None
        if not isinstance(start, str) or not isinstance(results, list):
            rejections.append(Rejection(f"data[{b}]", "bucket without starting_at or results", str(bucket)[:500]))
            continue
        try:
            start, width = _bounds(start, bucket.get("ending_at"))
        except ValueError as exc:
            rejections.append(Rejection(f"data[{b}]", str(exc), str(bucket)[:500]))
            continue
        for r, result in enumerate(results):
            location = f"data[{b}].results[{r}]"
            try:
                rows.append(_row(result, start, width, location))
            except (ValueError, TypeError, AttributeError) as exc:
                rejections.append(Rejection(location, str(exc), str(result)[:500]))
    return ParsedExport(FORMAT, DATASET, "attribution", usage_frame(rows), rejections)


def _row(result: dict, start: str, width: str, location: str) -> dict:
    cache = result.get("cache_creation") or {}
    if result.get("api_key_id"):
        kind, value = "api_key_id", result["api_key_id"]
    elif result.get("account_id"):
        kind, value = "account_id", result["account_id"]
    elif result.get("service_account_id"):
        kind, value = "service_account_id", result["service_account_id"]
    else:
        # Console/Workbench usage has no key: it is kept, unmapped, under the workspace.
        kind, value = "workspace_id", result.get("workspace_id") or "default"
    model = result.get("model") or ""
    if not model:
        raise ValueError("model is missing: group the report by model")
    key_fields = (
        start,
        width,
        result.get("api_key_id"),
        result.get("account_id"),
        result.get("service_account_id"),
        result.get("workspace_id"),
        model,
        result.get("service_tier"),
        result.get("context_window"),
        result.get("inference_geo"),
        result.get("speed"),
    )
    return {
        "dedup_key": natural_key(*key_fields),
        "bucket_start": start,
        "bucket_width": width,
        "vendor": "anthropic",
        "product": "api",
        "account": result.get("workspace_id") or "",
        "identity_kind": kind,
        "identity_value": value,
        "model": model,
        "long_context": result.get("context_window") == "200k-1M",
        "input_uncached_tokens": non_negative_int(result.get("uncached_input_tokens"), "uncached_input_tokens"),
        "cache_read_tokens": non_negative_int(result.get("cache_read_input_tokens"), "cache_read_input_tokens"),
        "cache_write_5m_tokens": non_negative_int(
            cache.get("ephemeral_5m_input_tokens"), "cache_creation.ephemeral_5m_input_tokens"
        ),
        "cache_write_1h_tokens": non_negative_int(
            cache.get("ephemeral_1h_input_tokens"), "cache_creation.ephemeral_1h_input_tokens"
        ),
        "output_tokens": non_negative_int(result.get("output_tokens"), "output_tokens"),
        "requests": 0,
        "cost_usd": None,
        "location": location,
    }


def _buckets(doc: object) -> list:
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ParseError('expected an object with a "data" list of buckets (the usage report envelope)')
    return doc["data"]


def _first_result(doc: object) -> dict | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        return None
    for bucket in doc["data"]:
        if isinstance(bucket, dict):
            for result in bucket.get("results") or []:
                if isinstance(result, dict):
                    return result
    return None


def _bounds(start: str, end: object) -> tuple[str, str]:
    """The bucket's start in UTC (the natural key's form whatever the notation: "Z", "+00:00",
    a bare date) and its width from its bounds: 1d, 1h or 1m."""
    start = iso_time(start, "starting_at")
    if not isinstance(end, str):
        return start, "1d"
    seconds = (datetime.fromisoformat(iso_time(end, "ending_at")) - datetime.fromisoformat(start)).total_seconds()
    return start, {86400: "1d", 3600: "1h", 60: "1m"}.get(int(seconds), "1d")
