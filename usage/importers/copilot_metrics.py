"""GitHub Copilot usage metrics, `users-1-day` report: NDJSON, one user-day a line.

Attribution source for tokens. Quirks:
- the only token counts are the CLI's: `totals_by_cli.token_usage.prompt_tokens_sum` (whether it
  includes cached prompt tokens is not documented: counted as uncached input) and
  `output_tokens_sum`; a user-day without `totals_by_cli` holds no tokens and gives no row;
- users are GitHub logins (`user_login`), resolved through Engineer.github_login;
- the dollars are not here: Copilot bills AI credits and premium requests, read from the
  metered usage report (`copilot_metered`), so these rows carry $0 and nothing is counted twice.
"""

from __future__ import annotations

from .base import ParsedExport, ParseError, Rejection, natural_key, non_negative_int, raw_text, usage_frame
from .readers import as_object, day_start, read_records

FORMAT = "copilot_metrics"
DATASET = "copilot_metrics"
KIND = "jsonl"


def detect_records(records: list[dict]) -> bool:
    return all("user_login" in r and "day" in r for r in records[:3])


def detect(doc: object) -> bool:
    """A one-line report is an ordinary JSON document."""
    return isinstance(doc, dict) and detect_records([doc])


def parse(raw: bytes) -> ParsedExport:
    records, rejections = read_records(raw, what="Copilot users-1-day report")
    if not records:
        raise ParseError("the report holds no user records")
    rows = []
    for location, record in records:
        try:
            row = _row(as_object(record), location)
        except (ValueError, TypeError, AttributeError) as exc:
            rejections.append(Rejection(location, str(exc), raw_text(record)))
            continue
        if row is not None:
            rows.append(row)
    return ParsedExport(FORMAT, DATASET, "attribution", usage_frame(rows), rejections)


def _row(record: dict, location: str) -> dict | None:
    start = day_start(record.get("day"), "day")
    login = str(record.get("user_login") or "").strip().lower()
    if not login:
        raise ValueError("user_login is missing")
    cli = record.get("totals_by_cli")
    if cli is None:
        return None  # no CLI use that day: no tokens (the activity counts are not usage)
    usage = as_object(as_object(cli, "totals_by_cli").get("token_usage") or {}, "totals_by_cli.token_usage")
    account = str(record.get("organization_id") or record.get("enterprise_id") or "")
    return {
        "dedup_key": natural_key(start, record.get("user_id") or login, account),
        "bucket_start": start,
        "bucket_width": "1d",
        "vendor": "github",
        "product": "copilot",
        "account": account,
        "identity_kind": "github_login",
        "identity_value": login,
        "model": "",
        "long_context": False,
        "input_uncached_tokens": non_negative_int(usage.get("prompt_tokens_sum"), "token_usage.prompt_tokens_sum"),
        "cache_read_tokens": 0,
        "cache_write_5m_tokens": 0,
        "cache_write_1h_tokens": 0,
        "output_tokens": non_negative_int(usage.get("output_tokens_sum"), "token_usage.output_tokens_sum"),
        "requests": non_negative_int(cli.get("request_count"), "totals_by_cli.request_count"),
        "cost_usd": "0",
        "location": location,
    }
