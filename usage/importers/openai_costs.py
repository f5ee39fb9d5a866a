"""OpenAI Costs API (`/v1/organization/costs`).

Billing source, used for reconciliation only. Quirks:
- `amount.value` is a number in dollars (Anthropic's cost report is in cents);
- `amount.currency` is lowercase ("usd");
- there is no user dimension: project, API key and line item only.
"""

from __future__ import annotations

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
from .readers import unix_day

FORMAT = "openai_costs"
# A result that has most of these but not all is this format missing some (registry names them).
DETECT_COLUMNS = ("object", "amount", "line_item")
WHAT = "an OpenAI costs report"
DATASET = "openai_costs"
RESULT_OBJECT = "organization.costs.result"


def detect(doc: object) -> bool:
    first = first_result(doc)
    if first is None:
        return False
    amount = first.get("amount")
    return first.get("object") == RESULT_OBJECT or (isinstance(amount, dict) and "value" in amount)


def parse(raw: bytes) -> ParsedExport:
    doc = load_json(raw, what="OpenAI costs report")
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ParseError('expected an object with a "data" list of buckets (the OpenAI costs page envelope)')
    rows, rejections = [], []
    for b, bucket in enumerate(doc["data"]):
        start = bucket.get("start_time") if isinstance(bucket, dict) else None
        results = bucket.get("results") if isinstance(bucket, dict) else None
        if not isinstance(start, int) or isinstance(start, bool) or not isinstance(results, list):
            reason = "bucket without a unix-seconds start_time or a results list"
            rejections.append(Rejection(f"data[{b}]", reason, raw_text(bucket)))
            continue
        try:
            day = unix_day(start, "start_time")
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


def _row(result: dict, day: str, location: str) -> dict:
    amount = result.get("amount")
    if not isinstance(amount, dict):
        raise ValueError("amount is missing")
    currency = amount.get("currency")
    if currency is not None and str(currency).lower() != "usd":
        raise ValueError(f"amount.currency is {currency!r}; only usd can be read")
    # Dollars already; Decimal from the number's text, never float arithmetic.
    cost = non_negative_decimal(amount.get("value"), "amount.value")
    key_fields = (day, result.get("project_id"), result.get("api_key_id"), result.get("line_item"))
    return {
        "dedup_key": natural_key(*key_fields),
        "day": day,
        "vendor": "openai",
        "account": result.get("project_id") or "",
        "model": "",
        "description": result.get("line_item") or "",
        "cost_usd": usd_text(cost),
        "location": location,
    }
