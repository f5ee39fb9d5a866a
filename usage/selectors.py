"""Reads over the usage rollup for reports and the command line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import F, Sum

from usage.models import DailyUsage

GROUPS = {
    "engineer": "engineer__email",
    "team": "team__name",
    "vendor": "vendor",
    "product": "product",
    "model": "model",
    "cost_center": "engineer__cost_center",
}
MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class ReportRow:
    key: str | None  # None: unmapped usage (engineer) or no team that day
    tokens: int
    cost_usd: Decimal  # quantized to micro-dollars


def month_bounds(month: str) -> tuple[date, date]:
    """'2026-10' -> (2026-10-01, 2026-11-01): the half-open month."""
    year, mon = (int(part) for part in month.split("-"))
    start = date(year, mon, 1)
    return start, date(year + mon // 12, mon % 12 + 1, 1)


def usage_report_rows(*, start: date, end: date, by: str) -> list[ReportRow]:
    """Tokens and spend per group over [start, end), biggest spend first. One query."""
    rows = (
        DailyUsage.objects.in_period(start, end)
        .values(key=F(GROUPS[by]))
        .annotate(tokens=Sum("tokens"), cost_usd=Sum("cost_usd"))
        .order_by("-cost_usd", "key")
    )
    return [
        ReportRow(key=row["key"], tokens=int(row["tokens"]), cost_usd=Decimal(row["cost_usd"]).quantize(MICRO))
        for row in rows
    ]
