"""Anthropic Claude Code analytics (`/v1/organizations/usage_report/claude_code`).

Attribution source, one record per actor per day, one canonical row per model in it. Quirks:
- `estimated_cost.amount` is a number in cents: 186 is $1.86;
- emails come in mixed case (`Dennis.Perlman@Example.Com`): lower-cased here;
- `cache_creation` is not split into 5-minute and 1-hour writes: counted as 5-minute writes;
- `terminal_type` is an attribute of the day's record, not part of its identity, so it is
  kept out of the natural key: a re-fetch that reports another terminal replaces the row.

Impact source too: `core_metrics` (commits, PRs, lines) and `tool_actions` (accepted and
rejected edits) become ImpactRecord rows beside the usage (ParsedExport.impact). A record
without them has no impact rows; a malformed block is rejected at `data[i].core_metrics`
(or `.tool_actions`) while the record's usage is still read. Missing tools count as 0.
"""

from __future__ import annotations

from datetime import datetime

from .base import (
    ParsedExport,
    ParseError,
    Rejection,
    first_result,
    impact_frame,
    load_json,
    natural_key,
    non_negative_decimal,
    non_negative_int,
    raw_text,
    usage_frame,
    usd_text,
    utc_iso,
)

FORMAT = "claude_code_analytics"
DATASET = "claude_code_analytics"


def detect(doc: object) -> bool:
    if first_result(doc) is not None or not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        return False
    first = next((r for r in doc["data"] if isinstance(r, dict)), None)
    return first is not None and "model_breakdown" in first and "actor" in first


def parse(raw: bytes) -> ParsedExport:
    doc = load_json(raw, what="Claude Code analytics report")
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ParseError('expected an object with a "data" list of records (the Claude Code analytics envelope)')
    rows, impact, rejections = [], [], []
    for i, record in enumerate(doc["data"]):
        try:
            common, breakdown = _record(record)
        except (ValueError, TypeError, AttributeError) as exc:
            rejections.append(Rejection(f"data[{i}]", str(exc), raw_text(record)))
            continue
        for block, reader in (("core_metrics", _core_metrics), ("tool_actions", _tool_actions)):
            if record.get(block) is None:
                continue
            try:
                impact.extend(_impact_rows(reader(record[block]), common, f"data[{i}].{block}"))
            except (ValueError, TypeError, AttributeError) as exc:
                rejections.append(Rejection(f"data[{i}].{block}", str(exc), raw_text(record[block])))
        for j, entry in enumerate(breakdown):
            location = f"data[{i}].model_breakdown[{j}]"
            try:
                rows.append(_row(entry, common, location))
            except (ValueError, TypeError, AttributeError) as exc:
                rejections.append(Rejection(location, str(exc), raw_text(entry)))
    return ParsedExport(FORMAT, DATASET, "attribution", usage_frame(rows), rejections, impact=impact_frame(impact))


def _core_metrics(block: object) -> dict[str, int]:
    if not isinstance(block, dict):
        raise ValueError("core_metrics is not an object")
    lines = block.get("lines_of_code") or {}
    if not isinstance(lines, dict):
        raise ValueError("core_metrics.lines_of_code is not an object")
    return {
        "ai_commits": non_negative_int(block.get("commits_by_claude_code"), "core_metrics.commits_by_claude_code"),
        "ai_prs": non_negative_int(
            block.get("pull_requests_by_claude_code"), "core_metrics.pull_requests_by_claude_code"
        ),
        "ai_lines_added": non_negative_int(lines.get("added"), "core_metrics.lines_of_code.added"),
        "ai_lines_removed": non_negative_int(lines.get("removed"), "core_metrics.lines_of_code.removed"),
        "ai_sessions": non_negative_int(block.get("num_sessions"), "core_metrics.num_sessions"),
    }


def _tool_actions(block: object) -> dict[str, int]:
    """Accepted and rejected edits summed over the edit tools (edit, multi_edit, write, notebook)."""
    if not isinstance(block, dict):
        raise ValueError("tool_actions is not an object")
    accepted = rejected = 0
    for tool, counts in block.items():
        if not isinstance(counts, dict):
            raise ValueError(f"tool_actions.{tool} is not an object")
        accepted += non_negative_int(counts.get("accepted"), f"tool_actions.{tool}.accepted")
        rejected += non_negative_int(counts.get("rejected"), f"tool_actions.{tool}.rejected")
    return {"ai_edits_accepted": accepted, "ai_edits_rejected": rejected}


def _impact_rows(counts: dict[str, int], common: dict, location: str) -> list[dict]:
    day = common["bucket_start"][:10]
    key = (day, common["actor_type"], common["identity_value"], common["account"])
    return [
        {
            "dedup_key": natural_key(*key, metric),
            "day": day,
            "window_start": None,
            "source": "anthropic",
            "identity_kind": common["identity_kind"],
            "identity_value": common["identity_value"],
            "metric": metric,
            "value": value,
            "location": location,
        }
        for metric, value in counts.items()
    ]


def _record(record: object) -> tuple[dict, list]:
    """The fields every model row of a record shares, and its model_breakdown."""
    if not isinstance(record, dict):
        raise ValueError("record is not an object")
    breakdown = record.get("model_breakdown")
    if not isinstance(breakdown, list):
        raise ValueError("record without a model_breakdown list")
    bucket_start = _utc_midnight(record.get("date"))
    actor = record.get("actor") or {}
    actor_type = actor.get("type")
    if actor_type == "user_actor":
        kind, value = "email", (actor.get("email_address") or "").strip().lower()
        if not value:
            raise ValueError("actor.email_address is empty (deleted user?): no one to attribute it to")
    elif actor_type == "api_actor":
        kind, value = "api_key_name", (actor.get("api_key_name") or "").strip()
        if not value:
            raise ValueError("actor.api_key_name is empty")
    else:
        raise ValueError(f"actor.type is {actor_type!r}; expected user_actor or api_actor")
    common = {
        "bucket_start": bucket_start,
        "actor_type": actor_type,
        "identity_kind": kind,
        "identity_value": value,
        "account": record.get("organization_id") or "",
    }
    return common, breakdown


def _row(entry: dict, common: dict, location: str) -> dict:
    model = entry.get("model") or ""
    if not model:
        raise ValueError("model is missing")
    tokens = entry.get("tokens")
    if not isinstance(tokens, dict):
        raise ValueError("tokens is missing")
    cost = entry.get("estimated_cost")
    cost_usd = None
    if cost is not None:
        currency = cost.get("currency")
        if currency is not None and str(currency).upper() != "USD":
            raise ValueError(f"estimated_cost.currency is {currency!r}; only USD can be read")
        cost_usd = usd_text(non_negative_decimal(cost.get("amount"), "estimated_cost.amount") / 100)
    key_fields = (common["bucket_start"], common["actor_type"], common["identity_value"], model, common["account"])
    return {
        "dedup_key": natural_key(*key_fields),
        "bucket_start": common["bucket_start"],
        "bucket_width": "1d",
        "vendor": "anthropic",
        "product": "claude_code",
        "account": common["account"],
        "identity_kind": common["identity_kind"],
        "identity_value": common["identity_value"],
        "model": model,
        "long_context": False,
        "input_uncached_tokens": non_negative_int(tokens.get("input"), "tokens.input"),
        "cache_read_tokens": non_negative_int(tokens.get("cache_read"), "tokens.cache_read"),
        "cache_write_5m_tokens": non_negative_int(tokens.get("cache_creation"), "tokens.cache_creation"),
        "cache_write_1h_tokens": 0,
        "output_tokens": non_negative_int(tokens.get("output"), "tokens.output"),
        "requests": 0,
        "cost_usd": cost_usd,
        "location": location,
    }


def _utc_midnight(date: object) -> str:
    """The record's day as bucket_start; the API sends UTC midnights, anything else is suspect."""
    try:
        start = utc_iso(datetime.fromisoformat(date))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"date is not an RFC 3339 time: {date!r}") from None
    if not start.endswith("T00:00:00Z"):
        raise ValueError(f"date is not a UTC midnight: {date!r}")
    return start
