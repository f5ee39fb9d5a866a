"""LiteLLM proxy spend logs: `LiteLLM_SpendLogs` rows as JSON (a list, or `/spend/logs/v2`'s
`{"data": [...]}`) or as a CSV export of the table.

Attribution source, one row per request (`request_id` is the table's primary key), vendor cost.
Decisions and quirks:
- vendor is "litellm", product "gateway": the gateway metered and priced the request. The
  upstream vendor shows in the model; `custom_llm_provider` is not trusted for it (it names the
  route, e.g. "anthropic" for an OpenAI model behind an Anthropic-compatible route), and one
  vendor keeps a LiteLLM user or team mapped once in VendorIdentity, not once per upstream;
- `spend` is **float USD**: read through its printed digits into a Decimal; a missing spend is
  priced from the tokens (by model name alone);
- `prompt_tokens` follows OpenAI and INCLUDES cache reads and writes, which only appear in
  `metadata.additional_usage_values` / `metadata.usage_object` (uncached = prompt - both;
  writes count as 5-minute writes). If the cache counts exceed the prompt, the prompt is
  taken to exclude them;
- identity: `metadata.user_api_key_user_email`, else `user` (or `metadata.user_api_key_user_id`)
  as `litellm_user`, else `team_id` as `litellm_team`, else the hashed key as `litellm_api_key`;
- `metadata` may be a JSON string (a CSV cell, or a Postgres json column exported as text).
"""

from __future__ import annotations

import json

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
from .readers import as_object, header_names, iso_time, read_csv

FORMAT = "litellm_spend"
DATASET = "litellm_spend"
KIND = "json"


def detect(doc: object) -> bool:
    rows = doc.get("data") if isinstance(doc, dict) else doc
    first = rows[0] if isinstance(rows, list) and rows else None
    return isinstance(first, dict) and "request_id" in first and "spend" in first


DETECT_COLUMNS = ("request_id", "spend", "startTime")  # CSV columns, or keys of a JSON row
WHAT = "LiteLLM spend logs"
# The table's token columns are never null (schema.prisma): a file without them is not a whole export.
REQUIRED_COLUMNS = (*DETECT_COLUMNS, "prompt_tokens", "completion_tokens")


def detect_bytes(head: bytes) -> bool:
    return set(DETECT_COLUMNS) <= header_names(head, lower=False)


def parse(raw: bytes) -> ParsedExport:
    head = raw[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"[", b"{"):
        records, rejections = _json_records(raw)
    else:
        header, csv_rows, rejections = read_csv(raw, what="LiteLLM spend logs CSV")
        missing = [name for name in REQUIRED_COLUMNS if name not in header]
        if missing:
            raise ParseError(f"header: missing column(s) {', '.join(missing)} of LiteLLM_SpendLogs")
        records = [(f"line {r.line}", {k: (v if v != "" else None) for k, v in r.values.items()}) for r in csv_rows]
    rows = []
    for location, record in records:
        try:
            rows.append(_row(as_object(record, "row"), location))
        except (ValueError, TypeError, AttributeError) as exc:
            rejections.append(Rejection(location, str(exc), raw_text(record)))
    return ParsedExport(FORMAT, DATASET, "attribution", usage_frame(rows), rejections)


def _json_records(raw: bytes) -> tuple[list, list[Rejection]]:
    doc = load_json(raw, what="LiteLLM spend logs")
    if isinstance(doc, dict) and isinstance(doc.get("data"), list):
        return [(f"data[{i}]", r) for i, r in enumerate(doc["data"])], []
    if isinstance(doc, list):
        return [(f"[{i}]", r) for i, r in enumerate(doc)], []
    raise ParseError('expected a list of LiteLLM_SpendLogs rows, or an object with a "data" list of them')


def _row(record: dict, location: str) -> dict:
    request_id = str(record.get("request_id") or "").strip()
    if not request_id:
        raise ValueError("request_id is missing")
    metadata = _metadata(record.get("metadata"))
    start = iso_time(record.get("startTime"), "startTime")
    prompt = non_negative_int(_present(record, "prompt_tokens"), "prompt_tokens")
    cache_read, cache_write = _cache(metadata)
    uncached = prompt - cache_read - cache_write if prompt >= cache_read + cache_write else prompt
    kind, value = _identity(record, metadata)
    spend = record.get("spend")
    return {
        "dedup_key": natural_key(request_id),
        "bucket_start": start,
        "bucket_width": "event",
        "vendor": "litellm",
        "product": "gateway",
        "account": str(record.get("team_id") or ""),
        "identity_kind": kind,
        "identity_value": value,
        "model": str(record.get("model") or ""),
        "long_context": False,
        "input_uncached_tokens": uncached,
        "cache_read_tokens": cache_read,
        "cache_write_5m_tokens": cache_write,
        "cache_write_1h_tokens": 0,
        "output_tokens": non_negative_int(_present(record, "completion_tokens"), "completion_tokens"),
        "requests": 1,
        "cost_usd": None if spend is None else usd_text(non_negative_decimal(spend, "spend")),
        "location": location,
    }


def _present(record: dict, name: str) -> object:
    """A token count the table always has: a row without it would load as 0 tokens."""
    if record.get(name) is None:
        raise ValueError(f"{name} is missing")
    return record[name]


def _metadata(value: object) -> dict:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("metadata is not valid JSON") from None
    return as_object(value, "metadata")


def _cache(metadata: dict) -> tuple[int, int]:
    """(cache reads, cache writes) from wherever this LiteLLM version put them."""
    extra = metadata.get("additional_usage_values") or {}
    usage = metadata.get("usage_object") or {}
    details = usage.get("prompt_tokens_details") or {} if isinstance(usage, dict) else {}
    for source, name in ((extra, "additional_usage_values"), (usage, "usage_object")):
        if isinstance(source, dict) and (
            source.get("cache_read_input_tokens") is not None or source.get("cache_creation_input_tokens") is not None
        ):
            return (
                non_negative_int(source.get("cache_read_input_tokens"), f"metadata.{name}.cache_read_input_tokens"),
                non_negative_int(
                    source.get("cache_creation_input_tokens"), f"metadata.{name}.cache_creation_input_tokens"
                ),
            )
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return non_negative_int(cached, "metadata.usage_object.prompt_tokens_details.cached_tokens"), 0


def _identity(record: dict, metadata: dict) -> tuple[str, str]:
    email = str(metadata.get("user_api_key_user_email") or "").strip().lower()
    if email:
        return "email", email
    user = str(record.get("user") or metadata.get("user_api_key_user_id") or "").strip()
    if user:
        return "litellm_user", user
    team = str(record.get("team_id") or metadata.get("user_api_key_team_id") or "").strip()
    if team:
        return "litellm_team", team
    key = str(record.get("api_key") or metadata.get("user_api_key") or "").strip()
    if key:
        return "litellm_api_key", key
    raise ValueError("no user email, user, team_id or api_key: no one to attribute the request to")
