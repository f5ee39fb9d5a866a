"""Google Cloud billing export rows (BigQuery `gcp_billing_export_v1_*` / `_resource_v1_*`,
exported as JSON lines or a JSON array), the Vertex AI and Gemini API rows.

Attribution source for dollars, one row per export row. Quirks:
- `cost` is in the billing `currency`; `credits[].amount` are negative and are added in (the
  net is what is paid). A non-USD row is converted with `currency_conversion_rate` (units of
  the currency per dollar); without one it is rejected;
- rows of other services (Compute Engine, …), and tax / adjustment / rounding rows, are not AI
  spend: one rejection per service or cost type says how many were not read;
- the export is append-only (late usage arrives as new rows with a later `export_time`), so
  `export_time` is part of a row's key: an overlapping second export changes nothing;
- there are no per-user fields: the person is a `user` label (label values cannot hold "@",
  so it is mapped in VendorIdentity as `gcp_label_user`), else the project (`gcp_project`);
- token counts are read, best effort, from token SKUs ("… Input/Output/Cached … Tokens") whose
  usage unit is a count; SKU names are not documented and other SKUs give dollars only.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal, InvalidOperation

from .base import (
    MAX_AMOUNT,
    ParsedExport,
    ParseError,
    Rejection,
    natural_key,
    non_negative_decimal,
    non_negative_int,
    raw_text,
    usage_frame,
    usd_text,
)
from .readers import as_object, iso_time, read_records

FORMAT = "gcp_billing"
DATASET = "gcp_billing"
KIND = "jsonl"
AI_SERVICES = {"vertex ai": "vertex_ai", "gemini api": "gemini_api", "generative language api": "gemini_api"}
USER_LABELS = ("user", "engineer", "owner", "email")
WIDTHS = {3600: "1h", 86400: "1d", 60: "1m"}


def detect_records(records: list[dict]) -> bool:
    return any("billing_account_id" in r and "sku" in r and "cost" in r for r in records)


def detect(doc: object) -> bool:
    items = [r for r in (doc if isinstance(doc, list) else [doc])[:3] if isinstance(r, dict)]
    return bool(items) and detect_records(items)


def parse(raw: bytes) -> ParsedExport:
    records, rejections = read_records(raw, what="Google Cloud billing export")
    if not records:
        raise ParseError("the export holds no rows")
    rows = []
    skipped: dict[str, list[str]] = defaultdict(list)  # why -> locations not read
    for location, record in records:
        try:
            record = as_object(record, "row")
            product, why = _product(record)
            if product is None:
                skipped[why].append(location)
                continue
            rows.append(_row(record, product, location))
        except (ValueError, TypeError, AttributeError, ArithmeticError) as exc:
            rejections.append(Rejection(location, str(exc), raw_text(record)))
    for why, locations in sorted(skipped.items()):
        more = f" and {len(locations) - 1} more" if len(locations) > 1 else ""
        rejections.append(Rejection(f"{locations[0]}{more}", f"{why}: {len(locations)} row(s) not read"))
    return ParsedExport(FORMAT, DATASET, "attribution", usage_frame(rows), rejections)


def _product(record: dict) -> tuple[str | None, str]:
    service = str((record.get("service") or {}).get("description") or "")
    product = AI_SERVICES.get(service.lower())
    if product is None:
        return None, f"service {service!r} is not Vertex AI or the Gemini API"
    cost_type = str(record.get("cost_type") or "regular")
    if cost_type != "regular":
        return None, f"cost_type {cost_type!r} is not usage (reconcile it against the invoice)"
    return product, ""


def _row(record: dict, product: str, location: str) -> dict:
    start = iso_time(record.get("usage_start_time"), "usage_start_time")
    end = record.get("usage_end_time")
    sku = as_object(record.get("sku") or {}, "sku")
    project = as_object(record.get("project") or {}, "project")
    labels = _labels(record.get("labels"))
    kind, value = _identity(labels, _labels(project.get("labels")), str(project.get("id") or ""))
    service, place = record.get("service") or {}, record.get("location") or {}
    resource = (record.get("resource") or {}).get("name")
    key = (service.get("id"), sku.get("id"), project.get("id"), start, end, place.get("region"), resource)
    return {
        "dedup_key": natural_key(
            record.get("billing_account_id"), *key, sorted(labels.items()), record.get("export_time")
        ),
        "bucket_start": start,
        "bucket_width": _width(start, end),
        "vendor": "google",
        "product": product,
        "account": str(project.get("id") or ""),
        "identity_kind": kind,
        "identity_value": value,
        "model": str(sku.get("description") or sku.get("id") or ""),
        "long_context": False,
        **_tokens(record, str(sku.get("description") or "")),
        "requests": 0,
        "cost_usd": usd_text(_net_usd(record)),
        "location": location,
    }


def _width(start: str, end: object) -> str:
    """Rows are hourly; the bounds say so (or otherwise)."""
    if not end:
        return "1h"
    seconds = datetime.fromisoformat(iso_time(end, "usage_end_time")) - datetime.fromisoformat(start)
    return WIDTHS.get(int(seconds.total_seconds()), "1h")


def _net_usd(record: dict) -> Decimal:
    cost = _signed(record.get("cost"), "cost")
    for i, credit in enumerate(record.get("credits") or []):
        cost += _signed(as_object(credit, f"credits[{i}]").get("amount") or 0, f"credits[{i}].amount")
    currency = str(record.get("currency") or "USD").upper()
    if currency != "USD":
        rate = record.get("currency_conversion_rate")
        if rate in (None, "", 0):
            raise ValueError(f"currency is {currency} and there is no currency_conversion_rate to turn it into USD")
        cost = cost / non_negative_decimal(rate, "currency_conversion_rate")
    if cost < 0:
        raise ValueError(
            f"net cost is negative ({cost}): credits larger than the cost; reconcile it against the invoice"
        )
    if cost >= MAX_AMOUNT:
        raise ValueError(f"net cost is too large: {cost}")
    return cost


def _signed(value: object, name: str) -> Decimal:
    """A money amount that may be negative (credits are): a JSON float through its printed digits."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name} is not a number: {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{name} is not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"{name} is not a number: {value!r}")
    return number


def _labels(value: object) -> dict[str, str]:
    """Labels as exported: a list of {key, value} (BigQuery) or a plain object."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):
        return {str(item.get("key")): str(item.get("value")) for item in value if isinstance(item, dict)}
    return {}


def _identity(labels: dict[str, str], project_labels: dict[str, str], project: str) -> tuple[str, str]:
    for source in (labels, project_labels):
        for key in USER_LABELS:
            if source.get(key):
                return "gcp_label_user", source[key].lower()
    if not project:
        raise ValueError("no user label and no project.id: no one to attribute the row to")
    return "gcp_project", project


def _tokens(record: dict, sku: str) -> dict:
    usage = record.get("usage") or {}
    words = sku.lower()
    counts = {"input_uncached_tokens": 0, "cache_read_tokens": 0, "output_tokens": 0}
    if "token" not in words or "storage" in words or str(usage.get("unit") or "").lower() not in ("count", "tokens"):
        return counts
    amount = _signed(usage.get("amount") or 0, "usage.amount")
    if amount < 0 or amount != amount.to_integral_value():
        raise ValueError(f"usage.amount is not a whole token count: {usage.get('amount')!r}")
    column = (
        "cache_read_tokens" if "cache" in words else "output_tokens" if "output" in words else "input_uncached_tokens"
    )
    counts[column] = non_negative_int(int(amount), "usage.amount")
    return counts
