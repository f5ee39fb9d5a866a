"""Finance exports: chargeback per cost center or team, and FOCUS 1.2 rows, as CSV or XLSX.

Every amount comes from DailyUsage (metered) and the seat ledger (billing.seats) for the
half-open month, so each export sums to what `usage_report` says for that month. Rows stream from the database (`iterator()`); writing
them is the caller's business (`write_csv`, `write_xlsx`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import chain
from typing import IO

from django.db.models import F, Sum

from billing.finance import UNMAPPED, month_shift
from billing.models import BillingLine
from billing.seats import seat_costs, seat_segments
from leaderboard.access import audit
from usage.models import DailyUsage

MICRO = Decimal("0.000001")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection); tab
# and carriage return are on OWASP's list too.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHARGEBACK_GROUPS = {"cost_center": "engineer__cost_center", "team": "team__name"}
NONE_LABELS = {"cost_center": "(no cost center)", "team": "(no team)"}
UNMAPPED_LABEL = "(unmapped)"
EXPORT_KINDS = ("focus", "chargeback-cost_center", "chargeback-team")

# FOCUS 1.2: every mandatory column, the recommended ones that apply to tokens, then ours (x_).
FOCUS_COLUMNS = [
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
    "ChargePeriodEnd", "ChargePeriodStart", "ConsumedQuantity", "ConsumedUnit", "ContractedCost",
    "EffectiveCost", "InvoiceIssuer", "ListCost", "PricingQuantity", "PricingUnit", "Provider",
    "Publisher", "ServiceCategory", "ServiceName", "ServiceSubcategory",
    "x_EngineerEmail", "x_Team", "x_CostCenter", "x_Model", "x_TokenType", "x_Product", "x_UnpricedTokens",
    "x_ChargeSource",
]  # fmt: skip
FOCUS_MANDATORY = [
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd",
    "ChargePeriodStart", "ContractedCost", "EffectiveCost", "InvoiceIssuer", "ListCost",
    "PricingQuantity", "PricingUnit", "Provider", "Publisher", "ServiceCategory", "ServiceName",
]  # fmt: skip
PROVIDERS = {"anthropic": "Anthropic", "openai": "OpenAI", "cursor": "Cursor", "github": "GitHub", "google": "Google"}
PRODUCTS = {"api": "API", "claude_code": "Claude Code", "codex": "Codex", "copilot": "Copilot", "chat": "Chat"}


@dataclass(frozen=True)
class Export:
    """A table to write: a header and rows of str / int / Decimal cells."""

    header: Sequence[str]
    rows: Iterable[Sequence[object]]


def escape_cell(value: object) -> object:
    """A text cell a spreadsheet would run as a formula gets a leading quote; numbers pass."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def chargeback_export(*, start: date, end: date, by: str) -> Export:
    """Tokens and USD (metered + seats, and each apart) per cost center or team over
    [start, end); unmapped usage and seats are their own row so the rows add up to the
    month's total. Two queries."""
    rows = (
        DailyUsage.objects.in_period(start, end)
        .values(key=F(CHARGEBACK_GROUPS[by]), unmapped=UNMAPPED)
        .annotate(tokens=Sum("tokens"), cost=Sum("cost_usd"))
        .order_by("-cost", "key")
    )
    lines = [
        (UNMAPPED_LABEL if row["unmapped"] else row["key"] or NONE_LABELS[by], int(row["tokens"]), row["cost"])
        for row in rows
    ]
    merged: dict[str, list] = {}
    for label, tokens, cost in lines:  # unmapped rows of several keys fold into one line
        merged.setdefault(label, [0, Decimal(0), Decimal(0)])
        merged[label][0] += tokens
        merged[label][1] += cost
    seat_key = "center" if by == "cost_center" else "team_name"
    for row in seat_costs(start=start, end=end, keys=(seat_key, "unmapped")):
        label = UNMAPPED_LABEL if row["unmapped"] else row[seat_key] or NONE_LABELS[by]
        merged.setdefault(label, [0, Decimal(0), Decimal(0)])
        merged[label][2] += row["cost_usd"]
    ordered = sorted(merged.items(), key=lambda item: (-(item[1][1] + item[1][2]), item[0]))
    return Export(
        header=[by, "tokens", "cost_usd", "metered_usd", "seats_usd"],
        rows=[
            (label, tokens, (metered + seats).quantize(MICRO), metered.quantize(MICRO), seats.quantize(MICRO))
            for label, (tokens, metered, seats) in ordered
        ],
    )


def focus_export(*, start: date, end: date) -> Export:
    """FOCUS 1.2 rows: one per DailyUsage row over [start, end), all token types together
    (x_TokenType "all"), then one per seat and team membership in the month (ChargeCategory
    "Purchase", recurring), so BilledCost sums exactly to both ledgers. Three queries."""
    # The account a vendor billed the month to (its cost report); the vendor's name without one.
    accounts = dict(
        BillingLine.objects.filter(day__gte=start, day__lt=end)
        .exclude(account="")
        .values_list("vendor", "account")
        .distinct()
        .order_by("vendor", "account")
    )
    return Export(header=FOCUS_COLUMNS, rows=chain(_focus_rows(start, end, accounts), _focus_seat_rows(start, end)))


def _focus_rows(start: date, end: date, accounts: dict[str, str]) -> Iterator[list[object]]:
    rows = (
        DailyUsage.objects.in_period(start, end)
        .values_list(
            "day",
            "vendor",
            "product",
            "model",
            "tokens",
            "unpriced_tokens",
            "cost_usd",
            "engineer__email",
            "team__name",
            "engineer__cost_center",
        )  # fmt: skip
        .order_by("day", "vendor", "product", "model", "engineer_id")
    )
    period_start, period_end = _stamp(start), _stamp(end)
    for day, vendor, product, model, tokens, unpriced, cost, email, team, center in rows.iterator(chunk_size=5000):
        provider = PROVIDERS.get(vendor, vendor.title())
        service = f"{provider} {PRODUCTS.get(product, product.replace('_', ' ').title())}"
        yield [
            cost, accounts.get(vendor, vendor), provider, "USD", period_end, period_start, "Usage", "",
            f"{model} usage ({service})", "Usage-Based", _stamp(day + timedelta(days=1)), _stamp(day),
            tokens, "Tokens", cost, cost, provider, cost, tokens, "Tokens", provider, provider,
            "AI and Machine Learning", service, "Generative AI",
            email or "", team or "", center or "", model, "all", product, unpriced, "usage",
        ]  # fmt: skip


def _focus_seat_rows(start: date, end: date) -> Iterator[list[object]]:
    """A seat is a recurring purchase (FOCUS: ChargeCategory "Purchase", ChargeFrequency
    "Recurring"); ConsumedQuantity and ConsumedUnit must be null for a non-usage charge. The
    pricing quantity is the share of a seat-month paid (days active / days in the month)."""
    period_start, period_end = _stamp(start), _stamp(end)
    for seat in seat_segments(start=start, end=end):
        provider = PROVIDERS.get(seat.vendor, seat.vendor.title())
        service = f"{provider} {PRODUCTS.get(seat.product, seat.product.replace('_', ' ').title())}"
        cost = seat.cost_usd
        description = (
            f"{service} seat, ${seat.monthly_price_usd.normalize():f}/month, {seat.days} of {seat.month_days} days"
        )
        yield [
            cost, seat.vendor, provider, "USD", period_end, period_start, "Purchase", "",
            description, "Recurring", _stamp(seat.end_day), _stamp(seat.first_day),
            "", "", cost, cost, provider, cost, seat.seat_months.quantize(MICRO), "Seat-Months", provider, provider,
            "AI and Machine Learning", service, "Generative AI",
            seat.email, seat.team_name or "", seat.cost_center or "", "", "seat",
            seat.product, 0, "seat",
        ]  # fmt: skip


def _stamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def write_csv(export: Export, out: IO[str]) -> int:
    """Write the export as CSV, escaping formula-like text; returns the number of data rows."""
    writer = csv.writer(out)
    writer.writerow(export.header)
    count = 0
    for row in export.rows:
        writer.writerow([escape_cell(cell) for cell in row])
        count += 1
    return count


def write_xlsx(export: Export, out: IO[bytes], *, title: str) -> int:
    """Write the export as one XLSX sheet (write-only mode: rows are not held in memory).
    openpyxl would store text starting with "=" as a formula, so cells are escaped here too."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    sheet.append(list(export.header))
    count = 0
    for row in export.rows:
        sheet.append([escape_cell(cell) for cell in row])
        count += 1
    book.save(out)
    return count


def export_build(*, kind: str, start: date) -> Export:
    """kind: focus | chargeback-cost_center | chargeback-team."""
    end = month_shift(start, 1)
    if kind == "focus":
        return focus_export(start=start, end=end)
    return chargeback_export(start=start, end=end, by=kind.removeprefix("chargeback-"))


def export_write(*, user, kind: str, start: date, fmt: str, out: IO, source: str) -> int:
    """Build, write (csv: a text stream, xlsx: a binary one) and audit one export; returns the
    number of data rows. `user` is None for the command line."""
    export = export_build(kind=kind, start=start)
    if fmt == "xlsx":
        count = write_xlsx(export, out, title=f"{kind} {start:%Y-%m}")
    else:
        count = write_csv(export, out)
    audit(user, "finance.export", kind, month=f"{start:%Y-%m}", format=fmt, rows=count, source=source)
    return count


def parse_month(month: str) -> date | None:
    """'2026-10' -> 2026-10-01; None when it is not a month of 1970-2999 (the page reaches six
    months back and one ahead, which year 1 or 9999 would take out of date's range)."""
    if not re.fullmatch(r"(19[7-9]\d|2\d{3})-(0[1-9]|1[0-2])", month or ""):
        return None
    return date(int(month[:4]), int(month[5:]), 1)
