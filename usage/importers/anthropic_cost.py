"""Anthropic Admin API cost report (`/v1/organizations/cost_report`).

Billing source: it is the billed total of the spend that the usage report and Claude Code
analytics attribute per key or person, so it feeds reconciliation only (DESIGN rule 1). Quirks:
- `amount` is a decimal string in cents: "123.45" is $1.2345;
- the only dimensions are workspace and description (no key, account or user);
- `workspace_id` null means the default workspace.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .base import (
    ParsedExport,
    ParseError,
    Rejection,
    billing_frame,
    first_result,
    load_json,
    natural_key,
    non_negative_decimal,
    raw_text,
    usd_text,
)

FORMAT = "anthropic_cost"
# A result that has most of these but not all is this format missing some (registry names them).
DETECT_COLUMNS = ("amount", "currency", "cost_type", "token_type")
WHAT = "an Anthropic cost report"
DATASET = "anthropic_cost"


def detect(doc: object) -> bool:
    first = first_result(doc)
    # A string amount tells it from OpenAI's costs, whose amount is an object.
    return first is not None and isinstance(first.get("amount"), str) and "currency" in first


def parse(raw: bytes) -> ParsedExport:
    doc = load_json(raw, what="Anthropic cost report")
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ParseError('expected an object with a "data" list of buckets (the cost report envelope)')
    rows, rejections = [], []
    for b, bucket in enumerate(doc["data"]):
        try:
            day, results = _bucket(bucket)
        except ValueError as exc:
            rejections.append(Rejection(f"data[{b}]", str(exc), raw_text(bucket)))
            continue
        for r, result in enumerate(results):
            location = f"data[{b}].results[{r}]"
            try:
                rows.append(_row(result, day, location))
            except (ValueError, TypeError, AttributeError) as exc:
                rejections.append(Rejection(location, str(exc), raw_text(result)))
    return ParsedExport(FORMAT, DATASET, "billing", billing_frame(rows), rejections)


def _bucket(bucket: object) -> tuple[str, list]:
    start = bucket.get("starting_at") if isinstance(bucket, dict) else None
    results = bucket.get("results") if isinstance(bucket, dict) else None
    if not isinstance(start, str) or not isinstance(results, list):
        raise ValueError("bucket without starting_at or results")
    try:
        moment = datetime.fromisoformat(start)
    except ValueError:
        raise ValueError(f"starting_at is not an RFC 3339 time: {start!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date().isoformat(), results


def _row(result: dict, day: str, location: str) -> dict:
    currency = result.get("currency")
    if currency is not None and str(currency).upper() != "USD":
        raise ValueError(f"currency is {currency!r}; only USD cost reports can be read")
    # Cents as a decimal string: divide by 100 in Decimal, never via float.
    cost = non_negative_decimal(result.get("amount"), "amount") / 100
    key_fields = (
        day,
        result.get("workspace_id"),
        result.get("description"),
        result.get("cost_type"),
        result.get("token_type"),
        result.get("model"),
        result.get("service_tier"),
        result.get("context_window"),
        result.get("inference_geo"),
    )
    return {
        "dedup_key": natural_key(*key_fields),
        "day": day,
        "vendor": "anthropic",
        "account": result.get("workspace_id") or "",
        "model": result.get("model") or "",
        "description": result.get("description") or "",
        "cost_usd": usd_text(cost),
        "location": location,
    }
