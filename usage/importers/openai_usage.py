"""OpenAI Usage API, completions (`/v1/organization/usage/completions`).

Attribution source with tokens only: cost is computed from prices. Quirks:
- `input_tokens` INCLUDES cached and cache-write tokens (Anthropic's does not), so uncached
  input is `input_tokens - input_cached_tokens - input_cache_write_tokens`;
- cache writes have no 5-minute / 1-hour split: they count as 5-minute writes;
- times are unix seconds; `end_time - start_time` gives the bucket width.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .base import (
    ParsedExport,
    ParseError,
    Rejection,
    first_result,
    load_json,
    natural_key,
    non_negative_int,
    raw_text,
    usage_frame,
    utc_iso,
)
from .readers import unix_day

FORMAT = "openai_usage"
# A result that has most of these but not all is this format missing some (registry names them).
DETECT_COLUMNS = ("input_tokens", "input_cached_tokens", "output_tokens", "num_model_requests")
WHAT = "an OpenAI usage report"
DATASET = "openai_usage"
RESULT_OBJECT = "organization.usage.completions.result"
WIDTHS = {86400: "1d", 3600: "1h", 60: "1m"}


def detect(doc: object) -> bool:
    first = first_result(doc)
    if first is None:
        return False
    if first.get("object") == RESULT_OBJECT:
        return True
    return all(k in first for k in ("input_tokens", "output_tokens", "num_model_requests"))


def parse(raw: bytes) -> ParsedExport:
    doc = load_json(raw, what="OpenAI usage report")
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ParseError('expected an object with a "data" list of buckets (the OpenAI usage page envelope)')
    rows, rejections = [], []
    for b, bucket in enumerate(doc["data"]):
        try:
            start, width, results = _bucket(bucket)
        except ValueError as exc:
            rejections.append(Rejection(f"data[{b}]", str(exc), raw_text(bucket)))
            continue
        for r, result in enumerate(results):
            location = f"data[{b}].results[{r}]"
            try:
                rows.append(_row(result, start, width, location))
            except (ValueError, TypeError, AttributeError) as exc:
                rejections.append(Rejection(location, str(exc), raw_text(result)))
    return ParsedExport(FORMAT, DATASET, "attribution", usage_frame(rows), rejections)


def _bucket(bucket: object) -> tuple[int, str, list]:
    if not isinstance(bucket, dict):
        raise ValueError("bucket is not an object")
    start, end, results = bucket.get("start_time"), bucket.get("end_time"), bucket.get("results")
    if not isinstance(start, int) or isinstance(start, bool) or not isinstance(results, list):
        raise ValueError("bucket without a unix-seconds start_time or a results list")
    unix_day(start, "start_time")
    if end is None:
        return start, "1d", results  # the API's default bucket_width
    width = WIDTHS.get(end - start) if isinstance(end, int) else None
    if width is None:
        raise ValueError(f"bucket from {start} to {end!r} is not 1m, 1h or 1d wide")
    return start, width, results


def _row(result: dict, start: int, width: str, location: str) -> dict:
    uncached, cached, cache_write = _input_split(result)
    model = result.get("model") or ""
    if not model:
        raise ValueError("model is missing: group the usage report by model")
    if result.get("user_id"):
        kind, value = "user_id", result["user_id"]
    elif result.get("api_key_id"):
        kind, value = "api_key_id", result["api_key_id"]
    else:
        # Without user or key grouping the best identity is the project ("" when ungrouped).
        kind, value = "project_id", result.get("project_id") or ""
    key_fields = (
        start, width, result.get("project_id"), result.get("user_id"), result.get("api_key_id"),
        model, result.get("batch"), result.get("service_tier"),
    )  # fmt: skip
    return {
        "dedup_key": natural_key(*key_fields),
        "bucket_start": utc_iso(datetime.fromtimestamp(start, UTC)),
        "bucket_width": width,
        "vendor": "openai",
        "product": "api",
        "account": result.get("project_id") or "",
        "identity_kind": kind,
        "identity_value": value,
        "model": model,
        "long_context": False,
        "input_uncached_tokens": uncached,
        "cache_read_tokens": cached,
        "cache_write_5m_tokens": cache_write,
        "cache_write_1h_tokens": 0,
        "output_tokens": _required_count(result, "output_tokens"),
        "requests": _required_count(result, "num_model_requests"),
        "cost_usd": None,
        "location": location,
    }


def _input_split(result: dict) -> tuple[int, int, int]:
    """(uncached, cached, cache write): input_tokens already includes the other two."""
    total = _required_count(result, "input_tokens")
    cached = non_negative_int(result.get("input_cached_tokens"), "input_cached_tokens")
    cache_write = non_negative_int(result.get("input_cache_write_tokens"), "input_cache_write_tokens")
    if cached > total:
        raise ValueError(
            f"input_cached_tokens ({cached}) is more than input_tokens ({total}), which already includes them"
        )
    uncached = total - cached - cache_write
    if uncached < 0:
        raise ValueError(
            f"input_cached_tokens ({cached}) + input_cache_write_tokens ({cache_write}) is more than "
            f"input_tokens ({total}), which already includes them"
        )
    given = result.get("input_uncached_tokens")
    if given is not None and non_negative_int(given, "input_uncached_tokens") != uncached:
        raise ValueError(
            f"input_uncached_tokens ({given}) disagrees with input_tokens - input_cached_tokens - "
            f"input_cache_write_tokens ({total} - {cached} - {cache_write} = {uncached})"
        )
    return uncached, cached, cache_write


def _required_count(result: dict, name: str) -> int:
    if result.get(name) is None:
        raise ValueError(f"{name} is missing")
    return non_negative_int(result[name], name)
