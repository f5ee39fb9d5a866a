"""GitHub metered usage report (billing CSV, the detailed one with `username`), Copilot rows.

Attribution source for dollars, one row per day, user, SKU (and model, where a column gives it).
Quirks:
- `net_amount` is **dollars** after discounts (`gross_amount - discount_amount`); that is the
  cost. AI credits (`unit_type` Credit, about $0.01 each) and premium requests carry no tokens;
- the report covers every GitHub product: rows of other products (Actions, Packages, …) are
  not AI spend and are reported as one rejection per product, not read;
- `username` is a GitHub login; a row without one (the summarized report) is kept under the
  organization (`github_org`, unmapped until mapped);
- the closing-down column `usage_at` is read where `date` is missing.
"""

from __future__ import annotations

from collections import defaultdict

from .base import ParsedExport, Rejection, natural_key, usage_frame, usd_text
from .readers import CsvRow, day_start, dollars, find_columns, header_names, read_csv

FORMAT = "copilot_metered"
DATASET = "copilot_metered"
KIND = "csv"
COLUMNS = {
    "date": ("date", "usage_at"),
    "product": ("product",),
    "sku": ("sku",),
    "model": ("model",),
    "net_amount": ("net_amount",),
    "username": ("username",),
    "organization": ("organization",),
    "repository": ("repository",),
    "workflow_path": ("workflow_path",),
    "cost_center": ("cost_center_name",),
}
REQUIRED = ("date", "product", "sku", "net_amount")


DETECT_COLUMNS = ("product", "sku", "net_amount")  # what detection looks for (registry)
WHAT = "a GitHub metered usage report"


def detect_bytes(head: bytes) -> bool:
    return set(DETECT_COLUMNS) <= header_names(head)


def parse(raw: bytes) -> ParsedExport:
    header, csv_rows, rejections = read_csv(raw, what="GitHub metered usage report")
    columns = find_columns(header, COLUMNS, required=REQUIRED, what="GitHub metered usage report")
    rows = []
    others: dict[str, list[int]] = defaultdict(list)  # product -> lines not read
    for csv_row in csv_rows:
        location = f"line {csv_row.line}"
        product = csv_row.values[columns["product"]].lower()
        if product != "copilot":
            others[product].append(csv_row.line)
            continue
        try:
            rows.append(_row(csv_row, columns, location))
        except ValueError as exc:
            rejections.append(Rejection(location, str(exc), ",".join(csv_row.values.values())[:500]))
    for product, lines in sorted(others.items()):
        more = f" and {len(lines) - 1} more" if len(lines) > 1 else ""
        reason = f"product {product!r} is not Copilot, so not AI spend: {len(lines)} row(s) not read"
        rejections.append(Rejection(f"line {lines[0]}{more}", reason))
    return ParsedExport(FORMAT, DATASET, "attribution", usage_frame(rows), rejections)


def _row(csv_row: CsvRow, columns: dict[str, str], location: str) -> dict:
    def cell(name: str) -> str:
        return csv_row.values.get(columns[name], "") if name in columns else ""

    start = day_start(cell("date"), columns["date"])
    login, organization = cell("username").lower(), cell("organization")
    if login:
        kind, value = "github_login", login
    elif organization:
        kind, value = "github_org", organization
    else:
        raise ValueError("neither username nor organization: no one to attribute the row to")
    sku = cell("sku")
    model = cell("model") or sku
    place = (cell("repository"), cell("workflow_path"), cell("cost_center"))
    return {
        "dedup_key": natural_key(start, cell("product"), sku, cell("model"), login, organization, *place),
        "bucket_start": start,
        "bucket_width": "1d",
        "vendor": "github",
        "product": "copilot",
        "account": organization,
        "identity_kind": kind,
        "identity_value": value,
        "model": model,
        "long_context": False,
        "requests": 0,
        "cost_usd": usd_text(dollars(cell("net_amount"), columns["net_amount"])),
        "location": location,
    }
