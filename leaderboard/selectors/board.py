"""Page read models over the DailyUsage rollup. Each makes a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import F, Q, Sum
from django.utils import timezone

from usage.models import DailyUsage


@dataclass(frozen=True)
class BoardRow:
    name: str
    team: str | None
    tokens: int
    cost_usd: Decimal


@dataclass(frozen=True)
class MonthSummary:
    start: date
    rows: list[BoardRow]
    tokens: int
    cost_usd: Decimal
    unmapped_cost_usd: Decimal


def org_month_summary(*, today: date | None = None, limit: int = 50) -> MonthSummary:
    """This month's top spenders and totals (two queries)."""
    today = today or timezone.now().date()
    start = today.replace(day=1)
    end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    month = DailyUsage.objects.in_period(start, end)
    top = (
        month.attributed()
        .values("engineer_id", name=F("engineer__name"))
        .annotate(tokens=Sum("tokens"), cost_usd=Sum("cost_usd"))
        .order_by("-cost_usd")[:limit]
    )
    totals = month.aggregate(tokens=Sum("tokens"), cost=Sum("cost_usd"), unmapped=Sum("cost_usd", filter=Q(engineer__isnull=True)))
    # The team shown is the latest one in the month: one more query over the top rows only.
    teams = dict(
        month.filter(engineer_id__in=[r["engineer_id"] for r in top])
        .order_by("engineer_id", "-day")
        .distinct("engineer_id")
        .values_list("engineer_id", "team__name")
    )
    rows = [BoardRow(r["name"], teams.get(r["engineer_id"]), int(r["tokens"]), r["cost_usd"]) for r in top]
    return MonthSummary(
        start=start,
        rows=rows,
        tokens=int(totals["tokens"] or 0),
        cost_usd=(totals["cost"] or Decimal(0)) - (totals["unmapped"] or Decimal(0)),
        unmapped_cost_usd=totals["unmapped"] or Decimal(0),
    )

