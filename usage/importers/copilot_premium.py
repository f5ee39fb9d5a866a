"""GitHub billing usage reports, JSON: premium requests and AI credits
(`GET /{organizations/ORG,users/LOGIN,enterprises/ENT}/settings/billing/{premium_request,ai_credit}/usage`).

Attribution source for dollars. Quirks:
- `netAmount` is **dollars** (a float: read through its printed digits, never binary);
- the period is `timePeriod{year, month[, day]}`: a report asked for one day gives a 1d row;
  one for a whole month gives a row of width `1mo` dated the 1st (re-pulling the month as it
  goes replaces it; do not mix daily and monthly pulls of the same account);
- the person is the report's `user` (a GitHub login) when it was asked per user; otherwise the
  usage stays under the organization or enterprise (`github_org`, unmapped until mapped).
"""

from __future__ import annotations

from datetime import date

from .base import (
    ParsedExport,
    ParseError,
    Rejection,
    load_json,
    natural_key,
    non_negative_decimal,
    raw_text,
    usage_frame,
    usd_text,
)
from .readers import as_object

FORMAT = "copilot_premium"
DATASET = "copilot_premium"


def detect(doc: object) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("usageItems"), list) and "timePeriod" in doc


def parse(raw: bytes) -> ParsedExport:
    doc = load_json(raw, what="GitHub billing usage report")
    if not detect(doc):
        raise ParseError('expected an object with "timePeriod" and a "usageItems" list')
    assert isinstance(doc, dict)
    start, width = _period(doc.get("timePeriod"))
    login = str(doc.get("user") or "").strip().lower()
    owner = str(doc.get("organization") or doc.get("enterprise") or "")
    if login:
        kind, value = "github_login", login
    elif owner:
        kind, value = "github_org", owner
    else:
        raise ParseError("the report names neither a user nor an organization: no one to attribute it to")
    rows, rejections = [], []
    for i, item in enumerate(doc["usageItems"]):
        location = f"usageItems[{i}]"
        try:
            item = as_object(item, "usage item")
            model, sku = str(item.get("model") or ""), str(item.get("sku") or "")
            if not sku:
                raise ValueError("sku is missing")
            model = sku if model in ("", "n/a") else model
            cost = usd_text(non_negative_decimal(item.get("netAmount"), "netAmount"))
        except (ValueError, TypeError) as exc:
            rejections.append(Rejection(location, str(exc), raw_text(item)))
            continue
        rows.append(
            {
                "dedup_key": natural_key(start, width, kind, value, owner, item.get("product"), sku, model),
                "bucket_start": start,
                "bucket_width": width,
                "vendor": "github",
                "product": "copilot",
                "account": owner,
                "identity_kind": kind,
                "identity_value": value,
                "model": model,
                "long_context": False,
                "requests": 0,
                "cost_usd": cost,
                "location": location,
            }
        )
    return ParsedExport(FORMAT, DATASET, "attribution", usage_frame(rows), rejections)


def _period(period: object) -> tuple[str, str]:
    try:
        period = as_object(period, "timePeriod")
        day = period.get("day")
        start = date(int(period["year"]), int(period["month"]), int(day or 1))
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseError(f"timePeriod must give a year and a month (and may give a day): {exc}") from exc
    return f"{start.isoformat()}T00:00:00Z", "1d" if day else "1mo"
